"""`/data/config/anon/...`: the site and project anonymization scripts, read-only, in XNAT's shape
(the Desktop Client and other uploaders read them before anonymizing on the client, xnat-spec.md §9.2).
Scripts are changed in the browser (anonymize/views.py), where they are validated with a dry run."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from anonymize import services as anonymize_services
from xnatapi import render
from xnatapi.http import api_view, flag, method_not_allowed, text
from xnatlite import permissions
from xnatlite.errors import NotFound

COLUMNS = ["tool", "path", "project", "status", "contents", "version", "create_date", "user"]


def _answer(request: HttpRequest, state, project_id: str, path: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request)
    if flag(request.GET.get("contents")):
        return text(state.text)
    row = {
        "tool": "anon",
        "path": path,
        "project": project_id,
        "status": "enabled" if state.enabled else "disabled",
        "contents": state.text,
        "version": str(state.version),
        "create_date": state.updated_at.isoformat() if state.updated_at else "",
        "user": state.updated_by,
    }
    return render.listing(request, [row], columns=COLUMNS, title="anon", fixed=True)


@api_view
def site_script(request: HttpRequest) -> HttpResponse:
    """`GET /data/config/anon/script[?contents=true]`: the site-wide script every instance gets."""
    return _answer(request, anonymize_services.get_site_script(), "", "script")


@api_view
def project_script(request: HttpRequest, project: str, again: str) -> HttpResponse:
    """`GET /data/projects/{P}/config/anon/projects/{P}`: the project's script (members may read)."""
    found = permissions.get_project(request.user, project, "read")
    if again != project and again != found.id:
        raise NotFound("Not found")
    return _answer(request, anonymize_services.get_project_script(found), found.id, f"projects/{found.id}")
