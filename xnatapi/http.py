"""The API's edge: sign-in check, CSRF check and the ONE mapping of errors to XNAT's answers;
`Endpoint`, the base of views that answer several methods.

Django's CSRF middleware leaves API views alone: XNAT clients send no CSRF token. `api_view` runs the
same check itself for the requests that need it (xnatapi/auth.py `needs_csrf_check`: browser sessions
and other sites' pages) and answers a plain-text 403 when it fails.

XNAT clients need plain-text error bodies (pyxnat's parser breaks on HTML; it maps any body containing
"Not Found" to its own not-found error), 401 with a basic-auth challenge, and DELETE answered 200
(xnat-rest-api.md §1 rules 7-9). Every 404 has the same body, whatever was missing or hidden and
whatever the URL named, so no answer tells a project (or anything in it) you may not see from one that
does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import parse_qsl

from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from archiving.identity import CONFIRM_PARAMETER
from xnatapi.auth import needs_csrf_check, unauthorized
from xnatlite.errors import (
    ArchiveConflict,
    Forbidden,
    InvalidInput,
    InvalidStatus,
    NotFound,
    UnconfirmedIdentifiers,
    XnatliteError,
)

log = logging.getLogger("xnatlite.api")

TEXT = "text/plain; charset=utf-8"
# The body of every 404: a message naming what was asked for would tell hidden from missing.
NOT_FOUND = "Not Found"


def text(body: str = "", status: int = 200, content_type: str = TEXT) -> HttpResponse:
    return HttpResponse(body, status=status, content_type=content_type)


def created(identifier: str, new: bool) -> HttpResponse:
    """The answer to a PUT: 201 for a new object, 200 for a changed one; the body is its ID, which
    xnatpy re-bases the object on (xnat-rest-api.md §6)."""
    return text(identifier, 201 if new else 200)


def error_response(exc: Exception) -> HttpResponse:
    """XNAT's status and a plain-text body for an error a service raised."""
    if isinstance(exc, (NotFound, Http404)):
        return text(NOT_FOUND, 404)
    if isinstance(exc, Forbidden):
        return text(exc.message, 403)
    if isinstance(exc, UnconfirmedIdentifiers):  # the API's way to confirm (archiving/identity.py)
        return text(f"{exc.message}: {CONFIRM_PARAMETER}=true", 409)
    if isinstance(exc, (ArchiveConflict, InvalidStatus)):
        return text(exc.message, 409)
    if isinstance(exc, (InvalidInput, XnatliteError)):
        return text(exc.message, 400)
    raise TypeError(exc)


_csrf = CsrfViewMiddleware(lambda request: HttpResponse())
CSRF_REFUSED = (
    "CSRF verification failed: a page must send the csrftoken cookie's value in an X-CSRFToken header; "
    "scripts sign in with basic auth, an alias token or /data/services/auth"
)


def csrf_refused(request: HttpRequest) -> bool:
    """Django's CSRF check (Origin, Referer over HTTPS, the token) for a request that needs it."""
    return needs_csrf_check(request) and _csrf.process_view(request, None, (), {}) is not None


def api_view(view: Callable | None = None, *, anonymous: bool = False):
    """Wrap an API view: 401 unless signed in, the CSRF check where it applies (see above), errors
    mapped to XNAT's statuses."""

    def decorate(func: Callable) -> Callable:
        @csrf_exempt
        @wraps(func)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if csrf_refused(request):
                return text(CSRF_REFUSED, 403)
            if not anonymous and not request.user.is_authenticated:
                return unauthorized()
            try:
                return func(request, *args, **kwargs)
            except (XnatliteError, Http404) as exc:
                if not isinstance(exc, (NotFound, Http404)):
                    log.info("%s %s -> %s: %s", request.method, request.path, type(exc).__name__, exc)
                return error_response(exc)
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                return text("Internal Server Error", 500)

        return wrapper

    return decorate(view) if view is not None else decorate


def params(request: HttpRequest) -> dict[str, str]:
    """Query-string parameters, plus form fields of a form-encoded body (XNAT accepts both).

    Django fills request.POST for POST only; clients also send form bodies with PUT
    (`/data/services/auth`) so those are parsed here. Raw uploads are never read this way.
    """
    values = {key: request.GET.get(key, "") for key in request.GET}
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        if request.method == "POST":
            values.update({key: request.POST.get(key, "") for key in request.POST})
        else:
            body = request.read(1024 * 1024).decode("utf-8", "replace")
            values.update(dict(parse_qsl(body, keep_blank_values=True)))
    return values


def flag(value: str | None, default: bool = False) -> bool:
    """XNAT's boolean parameters: true/false, 1/0, yes/no."""
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes", "y", "on")


def method_not_allowed(request: HttpRequest) -> HttpResponse:
    return text(f"Method {request.method} is not allowed here", 405)


class Endpoint(View):
    """One endpoint, one method per HTTP verb it answers (`get`, `put`, `delete`; HEAD is answered by
    `get`). Any other verb is 405 in plain text, and `as_view()` wraps the view in `api_view`."""

    http_method_names = ["get", "head", "put", "post", "delete"]

    @classmethod
    def as_view(cls, **initkwargs):
        return api_view(super().as_view(**initkwargs))

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return method_not_allowed(request)
