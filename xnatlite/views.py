"""The site's own pages: `/health` for load balancers and container health checks, and the status page
site admins read (every role of the site, when each was last seen)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache

from xnatlite import heartbeats, permissions


@never_cache
def health(request: HttpRequest) -> HttpResponse:
    """200 with what answered when this web process can serve (database, broker), else 503. No data of
    any project: only the parts of the site and when they were last seen."""
    found = heartbeats.site_health()
    return JsonResponse(found, status=200 if found.get("ok") else 503)


@never_cache
@staff_member_required
def status(request: HttpRequest) -> HttpResponse:
    """The admin status page: the same as /health, as a table."""
    if not permissions.is_site_admin(request.user):
        raise PermissionDenied
    return render(request, "admin/status.html", {"health": heartbeats.site_health(), "title": "Site status"})


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page that names none (Django admin, files opened inline)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
