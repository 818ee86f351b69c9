"""XNAT's prearchive services: `/data/services/archive`, `/data/services/validate-archive`,
`/data/services/prearchive/{move,delete,rebuild}` (xnat-rest-api.md §9.3, xnat-spec.md §3.7).

Parameters come in the query string or a form body; `src` names a session as
`[/data]/prearchive/projects/{P}/{timestamp}/{folder}` and may repeat. Labels that look like a name or
an MRN are archived only with `confirmIdentifiers=true` (archiving/identity.py; 409 without it). Every action goes through
prearchive/operations.py, which checks permissions, changes statuses and audits.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from archiving.identity import CONFIRM_PARAMETER
from prearchive import handoff, operations, queries
from prearchive.models import PrearchiveSession
from xnatapi import documents as docs
from xnatapi import render
from xnatapi.http import api_view, flag, method_not_allowed, params, text
from xnatapi.views.imports import parse_dest
from xnatapi.views.prearchive import PREARCHIVE_COLUMNS, prearchive_row
from xnatlite.errors import InvalidInput


def _sources(request: HttpRequest) -> list[str]:
    sources = request.GET.getlist("src")
    if request.method == "POST" and request.META.get("CONTENT_TYPE", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        sources += request.POST.getlist("src")
    return [s for s in sources if s]


def sessions_from_src(request: HttpRequest) -> list[PrearchiveSession]:
    """The prearchive sessions named by `src` (with or without `/data`; NotFound for others' sessions)."""
    sources = _sources(request)
    if not sources:
        raise InvalidInput(
            "Name the prearchive session: src=/prearchive/projects/{project}/{timestamp}/{session}"
        )
    found = []
    for src in sources:
        parts = [p for p in src.removeprefix("/data").strip("/").split("/") if p]
        if len(parts) != 5 or parts[:2] != ["prearchive", "projects"]:
            raise InvalidInput(f"'{src}' is not a prearchive session path (/prearchive/projects/P/TS/S)")
        found.append(queries.get_prearchive_session(request.user, parts[2], parts[3], parts[4]))
    return found


def _labels(values: dict[str, str], session: PrearchiveSession) -> dict[str, str]:
    """The archive's project, subject and session label from XNAT's many spellings (§3.7)."""
    dest = parse_dest(values["dest"]) if values.get("dest") else {}
    xsi_label = next((v for k, v in values.items() if k.endswith("/label") and v), "")
    return {
        "project": values.get("project") or dest.get("project", ""),
        "subject": values.get("subject") or values.get("SUBJECT_ID") or dest.get("subject", ""),
        "label": values.get("session")
        or xsi_label
        or values.get("EXPT_LABEL")
        or values.get("label")
        or dest.get("session", ""),
    }


def _one(sessions: list[PrearchiveSession]) -> PrearchiveSession:
    if len(sessions) != 1:
        raise InvalidInput("Archive one prearchive session per request")
    return sessions[0]


@api_view
def archive(request: HttpRequest) -> HttpResponse:
    """Archive a prearchive session now; answers the archived session's URI (text/uri-list)."""
    if request.method not in ("POST", "PUT"):
        return method_not_allowed(request)
    values = params(request)
    session = _one(sessions_from_src(request))
    outcome = handoff.archive_session(
        session,
        by=request.user,
        overwrite=values.get("overwrite") or "none",
        overwrite_files=flag(values.get("overwrite_files")),
        confirm_identifiers=flag(values.get(CONFIRM_PARAMETER)),
        **_labels(values, session),
    )
    return text(docs.archive_uri(outcome.session) + "\r\n", content_type="text/uri-list; charset=utf-8")


@api_view
def validate_archive(request: HttpRequest) -> HttpResponse:
    """What archiving would run into, as rows `{code, type, message}` (XNAT's validator codes)."""
    if request.method not in ("POST", "PUT", "GET"):
        return method_not_allowed(request)
    values = params(request)
    session = _one(sessions_from_src(request))
    results = handoff.validate_archive(
        session,
        by=request.user,
        overwrite=values.get("overwrite") or "none",
        confirm_identifiers=flag(values.get(CONFIRM_PARAMETER)),
        **_labels(values, session),
    )
    rows = ({"code": str(r.code), "type": r.kind.upper(), "message": r.message} for r in results)
    return render.listing(request, rows, columns=["code", "type", "message"], title="validation", fixed=True)


def _rows(request: HttpRequest, rows: list[dict[str, str]]) -> HttpResponse:
    return render.listing(request, rows, columns=PREARCHIVE_COLUMNS, title="prearchive", fixed=True)


@api_view
def prearchive_move(request: HttpRequest) -> HttpResponse:
    """`POST /data/services/prearchive/move?src=...&newProject=P`: answers the moved rows."""
    if request.method not in ("POST", "PUT"):
        return method_not_allowed(request)
    project = params(request).get("newProject", "")
    sessions = sessions_from_src(request)
    return _rows(
        request, [prearchive_row(operations.move_session(s, project, by=request.user)) for s in sessions]
    )


@api_view
def prearchive_delete(request: HttpRequest) -> HttpResponse:
    """`POST /data/services/prearchive/delete?src=...`: answers the deleted rows, status DELETED."""
    if request.method not in ("POST", "PUT"):
        return method_not_allowed(request)
    rows = []
    for session in sessions_from_src(request):
        row = prearchive_row(session)
        operations.delete_session(session, by=request.user)
        rows.append({**row, "status": "DELETED"})
    return _rows(request, rows)


@api_view
def prearchive_rebuild(request: HttpRequest) -> HttpResponse:
    """`POST /data/services/prearchive/rebuild?src=...`: answers the rebuilt rows."""
    if request.method not in ("POST", "PUT"):
        return method_not_allowed(request)
    sessions = sessions_from_src(request)
    return _rows(request, [prearchive_row(operations.rebuild_session(s, by=request.user)) for s in sessions])
