"""What xnatpy reads while connecting: version, build info, schemas, search elements (§2.1 steps 5-9)."""

from __future__ import annotations

import json
from pathlib import Path

from django.http import HttpRequest, HttpResponse

from xnatapi import render
from xnatapi.http import NOT_FOUND, api_view, text
from xnatlite import permissions
from xnatlite.errors import NotFound

# The XNAT version we behave like; xnatpy needs 1.7-1.9 and sends 1.8.3+ import flags.
XNAT_VERSION = "1.8.10"
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_NAMES = ("xnat", "xdat")
# The data types a client may search for; each row names one (xnatpy reads ELEMENT_NAME).
SEARCH_ELEMENTS = [
    ("xnat:projectData", "Project"),
    ("xnat:subjectData", "Subject"),
    ("xnat:mrSessionData", "MR Session"),
    ("xnat:ctSessionData", "CT Session"),
    ("xnat:petSessionData", "PET Session"),
]
SEARCH_FIELDS = {
    "xnat:projectData": ["ID", "NAME", "DESCRIPTION", "SECONDARY_ID"],
    "xnat:subjectData": ["SUBJECT_ID", "SUBJECT_LABEL", "PROJECT", "GENDER_TEXT", "HANDEDNESS_TEXT"],
}
SESSION_SEARCH_FIELDS = ["SESSION_ID", "LABEL", "DATE", "SUBJECT_ID", "PROJECT", "MODALITY"]


@api_view
def version(request: HttpRequest) -> HttpResponse:
    return text(XNAT_VERSION)


@api_view
def build_info(request: HttpRequest) -> HttpResponse:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        ours = package_version("xnatlite")
    except PackageNotFoundError:
        ours = "development"
    body = {"version": XNAT_VERSION, "buildNumber": ours, "application": "xnatlite"}
    return HttpResponse(json.dumps(body), content_type="application/json")


@api_view
def schema_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse(json.dumps(list(SCHEMA_NAMES)), content_type="application/json")


@api_view
def schema(request: HttpRequest, name: str) -> HttpResponse:
    name = name.removesuffix(".xsd")
    if name not in SCHEMA_NAMES:
        raise NotFound(f"No schema '{name}'")
    return HttpResponse((SCHEMAS / f"{name}.xsd").read_bytes(), content_type="application/xml")


@api_view
def search_elements(request: HttpRequest) -> HttpResponse:
    rows = (
        {"ELEMENT_NAME": name, "PLURAL": plural + "s", "SINGULAR": plural} for name, plural in SEARCH_ELEMENTS
    )
    return render.listing(
        request, rows, columns=["ELEMENT_NAME", "SINGULAR", "PLURAL"], title="elements", fixed=True
    )


@api_view
def search_element_fields(request: HttpRequest, name: str) -> HttpResponse:
    known = dict(SEARCH_ELEMENTS)
    if name not in known:
        raise NotFound(f"No search element '{name}'")
    fields = SEARCH_FIELDS.get(name, SESSION_SEARCH_FIELDS)
    rows = ({"FIELD_ID": f, "SUMMARY": f.replace("_", " ").title(), "TYPE": "string"} for f in fields)
    return render.listing(request, rows, columns=["FIELD_ID", "SUMMARY", "TYPE"], title=name, fixed=True)


@api_view(anonymous=True)
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any API path we do not serve: a plain-text 404 (never Django's HTML page)."""
    return text(NOT_FOUND, 404)


@api_view
def access_projects(request: HttpRequest) -> HttpResponse:
    """`GET /xapi/access/projects`: the user's role in each project they may see (xnatpy's
    `access_levels`); projects seen through their accessibility alone say `protected` or `public`."""
    user = request.user
    roles = permissions.project_roles(user)
    admin = permissions.is_site_admin(user)
    rows = [
        {"ID": p.id, "role": roles.get(p.id) or ("owner" if admin else p.accessibility), "name": p.name}
        for p in permissions.projects_for(user, "see").order_by("id")
    ]
    return HttpResponse(json.dumps(rows), content_type="application/json")
