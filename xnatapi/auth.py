"""Signing in XNAT's way: HTTP basic auth (password or alias token) and the JSESSIONID cookie.

On API paths (`/data/`, `/REST/`, `/xapi/`, and DICOMweb's `/dicomweb/`) and on the site root (xnatpy's alias-token login GETs `/`
with basic auth and keeps the JSESSIONID it gets back, xnat-rest-api.md §2.1), a request with basic
credentials signs the user in and so gets a session cookie, which clients then send instead. A request
whose session already belongs to the same credentials skips the (deliberately slow) password hash.
Views answer 401 themselves (`xnatapi.http.api_view`), never a redirect to the login page.

An alias token may also come as `Authorization: Bearer alias:secret` (DICOMweb clients and viewers send
bearer tokens); it is checked exactly as the same pair sent as basic credentials.
Alias tokens are an authentication backend (`AliasTokenBackend`), so `authenticate()` sees every way in.
A session opened with a token remembers it and ends as soon as the token is revoked or expires.

Two kinds of session share the JSESSIONID cookie. An *API session* is opened here (basic auth,
`/data/services/auth`) and flagged so; XNAT clients send its cookie with headers of their own and no
CSRF token. A *browser session* is opened by the login form; a browser sends its cookie with any form
another site makes it post, so a request it authenticates must pass Django's CSRF check
(`needs_csrf_check`, applied by `xnatapi.http.api_view`). A request carrying basic credentials is
authenticated by them, never by the browser session beside them, which it leaves as it was.
"""

from __future__ import annotations

import base64
import binascii
import logging

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from xnatapi import services

log = logging.getLogger(__name__)

API_PREFIXES = ("/data/", "/REST/", "/xapi/", "/dicomweb/")  # DICOMweb signs in the same ways
SESSION_BASIC_NAME = "xnatapi_basic_name"
SESSION_ALIAS = "xnatapi_alias"  # the alias token a session was opened with
SESSION_API = "xnatapi_api"  # set on sessions opened by an API client, not by the login form
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
AUTH_REQUIRED = "The request requires user authentication"
LOCKED_OUT = "Too many failed sign-ins from this address or for this account"


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/data", "/REST", "/xapi")


def unauthorized(message: str = AUTH_REQUIRED) -> HttpResponse:
    """XNAT's 401: a plain-text body pyxnat recognises, and a basic-auth challenge."""
    response = HttpResponse(message, status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = 'Basic realm="XNAT"'
    return response


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    """(name, secret) from an `Authorization: Basic` header, or from `Authorization: Bearer alias:secret`
    (an alias token, as DICOMweb clients and viewers send it), or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    kind, _, encoded = header.partition(" ")
    if kind.lower() == "bearer":
        alias, sep, secret = encoded.strip().partition(":")
        return (alias, secret) if sep and services.ALIAS_RE.fullmatch(alias) else None  # tokens only
    if kind.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, secret = decoded.partition(":")
    return (name, secret) if sep else None


class AliasTokenBackend:
    """Signs in with an alias token as user name and its secret as password; the user it returns
    carries the token as `alias_token`."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None
    ):
        token = services.valid_alias_token(username or "", password or "")
        if token is None:
            return None
        user = token.user
        user.alias_token = token
        return user

    def get_user(self, user_id):
        return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def locked_out(request: HttpRequest, response: HttpResponse | None = None, credentials=None) -> HttpResponse:
    """The answer to a sign-in refused by the throttling (django-axes' AXES_LOCKOUT_CALLABLE): 429, in
    plain text on the API and as a page elsewhere, with Retry-After when the lockout ends by itself."""
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = int(cool_off.total_seconds() // 60) if cool_off is not None else None
    if is_api_path(request.path):
        when = (
            f"try again in {minutes} minutes" if minutes is not None else "ask an administrator to unlock it"
        )
        answer = HttpResponse(f"{LOCKED_OUT}: {when}", status=429, content_type="text/plain; charset=utf-8")
    else:
        answer = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    if cool_off is not None:
        answer["Retry-After"] = str(int(cool_off.total_seconds()))
    return answer


def user_for_credentials(request: HttpRequest, name: str, secret: str):
    """The user a password or an alias token names, or None."""
    return authenticate(request, username=name, password=secret)


def sign_in(request: HttpRequest, user, name: str) -> str:
    """Start a session for the user and return its key (the JSESSIONID value)."""
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_BASIC_NAME] = name
    request.session[SESSION_API] = True
    token = getattr(user, "alias_token", None)
    if token is not None:
        request.session[SESSION_ALIAS] = token.alias
    request.session.save()
    return request.session.session_key


def session_alias(request: HttpRequest) -> str | None:
    """The alias token this request is signed in with (its own basic credentials, or its session's)."""
    return getattr(request, "xnatapi_alias", None) or request.session.get(SESSION_ALIAS)


def browser_session(request: HttpRequest) -> bool:
    """Is the request signed in by a session the login form opened (not by basic credentials)?"""
    return (
        request.user.is_authenticated
        and not getattr(request, "xnatapi_basic", False)
        and not request.session.get(SESSION_API, False)
    )


def foreign_origin(request: HttpRequest) -> bool:
    """Does the request come from a page of another site? Only browsers send `Origin`."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return False
    own = f"{request.scheme}://{request.get_host()}"
    return origin != own and origin not in settings.CSRF_TRUSTED_ORIGINS


def needs_csrf_check(request: HttpRequest) -> bool:
    """An API request that changes something must pass Django's CSRF check when a browser session
    signed it in, or when another site's page sent it (whatever it is signed in with: a browser sends
    basic credentials it remembers, and posting `/data/services/auth` would sign the browser in as
    someone else)."""
    if request.method in SAFE_METHODS:
        return False
    return browser_session(request) or foreign_origin(request)


class BasicAuthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        alias = request.session.get(SESSION_ALIAS)
        if alias and not services.alias_token_active(alias):
            log.info("session of revoked or expired token %s ended", alias)
            logout(request)
        api = is_api_path(request.path)
        if api or request.path == "/":
            credentials = basic_credentials(request)
            if credentials is not None:
                name, secret = credentials
                same = request.user.is_authenticated and request.session.get(SESSION_BASIC_NAME) == name
                user = request.user if same else user_for_credentials(request, name, secret)
                if user is None:
                    if api:
                        log.info("basic auth refused for %r from %s", name, request.META.get("REMOTE_ADDR"))
                        return unauthorized()
                else:
                    if not same and browser_session(request):
                        request.user = user  # this request only: the browser's session stays as it is
                        token = getattr(user, "alias_token", None)
                        request.xnatapi_alias = token.alias if token is not None else None
                    elif not same:
                        sign_in(request, user, name)
                    request.xnatapi_basic = True  # signed in by its own credentials
        return self.get_response(request)
