"""The prearchive over REST: `/data/prearchive/projects[/{P}[,{Q}...]]` listings, one session
(`.../{P}/{timestamp}/{folder}`: its row, its zip, its actions), its scans, their DICOM resource and
files (xnat-rest-api.md §9).

Rows come from prearchive/queries.py (constant queries); actions go through prearchive/operations.py.
"""

from __future__ import annotations

import json

from django.http import FileResponse, HttpRequest, HttpResponse

from archive import downloads
from prearchive import operations, queries
from prearchive.models import PrearchiveSession
from xnatapi import documents as docs
from xnatapi import render
from xnatapi.http import Endpoint, api_view, method_not_allowed, params, text
from xnatlite import layout, permissions
from xnatlite.errors import InvalidInput, NotFound

PREARCHIVE_COLUMNS = [
    "project",
    "timestamp",
    "lastmod",
    "uploaded",
    "scan_date",
    "scan_time",
    "subject",
    "folderName",
    "name",
    "tag",
    "status",
    "url",
    "autoarchive",
    "prevent_anon",
    "prevent_auto_commit",
    "SOURCE",
    "VISIT",
    "PROTOCOL",
    "TIMEZONE",
]


def prearchive_row(session: PrearchiveSession) -> dict[str, str]:
    """One row of XNAT's prearchive table (xnat-spec.md §3.2), all strings."""
    return {
        "project": session.project_name,
        "timestamp": session.timestamp,
        "lastmod": docs.s(session.last_modified),
        "uploaded": docs.s(session.created_at),
        "scan_date": docs.s(session.scan_date),
        "scan_time": docs.s(session.scan_time),
        "subject": session.subject_label,
        "folderName": session.folder_name,
        "name": session.label,
        "tag": session.study_instance_uid,
        "status": session.status,
        "url": session.url,
        "autoarchive": session.auto_archive,
        "prevent_anon": "true" if session.prevent_anon else "false",
        "prevent_auto_commit": "true" if session.prevent_auto_commit else "false",
        "SOURCE": session.source,
        "VISIT": session.visit,
        "PROTOCOL": session.protocol,
        "TIMEZONE": session.timezone,
        "details": session.status_reason,
    }


def session_uri(session: PrearchiveSession) -> str:
    return f"/data{session.url}"


def committed_uri(session: PrearchiveSession) -> tuple[str, bool]:
    """Where a session just committed is now: (its archive URI, True) once its project's auto-archive
    ran in this process (the embedded mode, no broker: the prearchive row is gone), else (its
    prearchive URI, False): kept for review, or queued for a worker."""
    archived = queries.archived_as(session)
    if archived is not None:
        return docs.archive_uri(archived), True
    return session_uri(session), False


@api_view
def listing(request: HttpRequest, projects: str | None = None) -> HttpResponse:
    """`GET /data/prearchive/projects[/{P}[,{Q}...]]`: the rows the user may see."""
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request)
    wanted = None
    if projects:
        wanted = [p for p in projects.split(",") if p]
        for project_id in wanted:
            if project_id == queries.UNASSIGNED:
                permissions.require_unassigned(request.user)
            else:
                permissions.get_project(request.user, project_id, "prearchive")
    rows = (prearchive_row(s) for s in queries.prearchive_listing(request.user, wanted))
    return render.listing(
        request, rows, columns=PREARCHIVE_COLUMNS + ["details"], title="prearchive", fixed=True
    )


class SessionDetail(Endpoint):
    """One prearchive session: its row or (`format=zip`) its files; POST runs an action, DELETE
    deletes it."""

    def get(self, request: HttpRequest, **names: str) -> HttpResponse:
        session = queries.get_prearchive_session(request.user, **names)
        if render.output_format(request) == "zip":
            entries = (
                downloads.Entry(f"{session.folder_name}/SCANS/{f.scan_id}/DICOM/{_name(f)}", f.absolute_path)
                for f in queries.session_files(session).iterator(chunk_size=2000)
            )
            return render.zip_response(entries, layout.clean_label(session.folder_name))
        row = prearchive_row(session)
        return render.listing(
            request, [row], columns=PREARCHIVE_COLUMNS + ["details"], title="prearchive", fixed=True
        )

    def put(self, request: HttpRequest, **names: str) -> HttpResponse:
        return _action(request, queries.get_prearchive_session(request.user, **names))

    post = put

    def delete(self, request: HttpRequest, **names: str) -> HttpResponse:
        operations.delete_session(queries.get_prearchive_session(request.user, **names), by=request.user)
        return text("")


class ScanList(Endpoint):
    """A prearchive session's scans, in the order the prearchive pages show them."""

    def get(self, request: HttpRequest, **names: str) -> HttpResponse:
        session = queries.get_prearchive_session(request.user, **names)
        base = session_uri(session)
        rows = (
            {
                "ID": scan["scan_id"],
                "series_description": scan["series_description"] or "",
                "type": scan["series_description"] or "",
                "modality": scan["modality"] or "",
                "frames": str(scan["frames"] or 0),
                "file_count": str(scan["files"]),
                "URI": f"{base}/scans/{scan['scan_id']}",
            }
            for scan in queries.scan_summary(session)
        )
        columns = ["ID", "series_description", "type", "modality", "frames", "file_count", "URI"]
        return render.listing(request, rows, columns=columns, title="scans", always=("ID", "URI"))


class ScanDetail(Endpoint):
    """One scan: its ID and series description."""

    def get(self, request: HttpRequest, scan: str, **names: str) -> HttpResponse:
        found = _scan(queries.get_prearchive_session(request.user, **names), scan)
        fields = {"ID": scan, "series_description": found["series_description"] or ""}
        return HttpResponse(json.dumps({"items": [{"data_fields": fields}]}), content_type="application/json")


class ResourceList(Endpoint):
    """A scan's one resource, DICOM (labelled, without a numeric ID: xnatpy matches it by label)."""

    def get(self, request: HttpRequest, scan: str, **names: str) -> HttpResponse:
        found = _scan(queries.get_prearchive_session(request.user, **names), scan)
        row = {
            "label": "DICOM",
            "file_count": str(found["files"]),
            "file_size": str(found["size"] or 0),
            "format": "DICOM",
        }
        return render.listing(request, [row], columns=list(row), title="resources", fixed=True)


class FileList(Endpoint):
    """A scan's DICOM files as a listing or (`format=zip`) a zip."""

    def get(self, request: HttpRequest, scan: str, resource: str, **names: str) -> HttpResponse:
        session = queries.get_prearchive_session(request.user, **names)
        files = _dicom_files(session, scan, resource)
        if render.output_format(request) == "zip":
            folder = names["folder"]
            entries = (
                downloads.Entry(f"{folder}/SCANS/{scan}/DICOM/{_name(f)}", f.absolute_path) for f in files
            )
            return render.zip_response(entries, layout.clean_label(folder))
        uri = f"{session_uri(session)}/scans/{scan}/resources/DICOM/files"
        rows = (
            {"Name": _name(f), "Size": str(f.size), "URI": f"{uri}/{_name(f)}", "digest": f.md5}
            for f in files
        )
        return render.listing(
            request, rows, columns=["Name", "Size", "URI", "digest"], title="files", fixed=True
        )


class FileDetail(Endpoint):
    """One DICOM file of a scan, by name."""

    def get(self, request: HttpRequest, scan: str, resource: str, path: str, **names: str) -> HttpResponse:
        session = queries.get_prearchive_session(request.user, **names)
        chosen = next((f for f in _dicom_files(session, scan, resource) if _name(f) == path), None)
        if chosen is None:
            raise NotFound(f"File '{path}' not found")
        return FileResponse(open(chosen.absolute_path, "rb"), content_type="application/octet-stream")  # noqa: SIM115


def _scan(session: PrearchiveSession, scan_id: str) -> dict:
    found = next((scan for scan in queries.scan_summary(session) if scan["scan_id"] == scan_id), None)
    if found is None:
        raise NotFound(f"Scan '{scan_id}' not found")
    return found


def _dicom_files(session: PrearchiveSession, scan_id: str, resource: str):
    """A scan's files, in its one resource: DICOM."""
    _scan(session, scan_id)
    if resource != "DICOM":
        raise NotFound(f"Resource '{resource}' not found")
    return queries.session_files(session).filter(scan_id=scan_id)


def _name(file) -> str:
    return file.path.rsplit("/", 1)[-1]


def _action(request: HttpRequest, session: PrearchiveSession) -> HttpResponse:
    """`POST .../{P}/{TS}/{S}?action=build|commit|rebuild|move|reset-status|archive` (§3.7)."""
    values = params(request)
    action = values.get("action", "")
    if action in ("build", "rebuild", "commit"):
        operations.rebuild_session(session, by=request.user)
        uri, archived = committed_uri(session)
        if archived:  # XNAT answers a commit that archived with a redirect to the archived session
            response = text(uri + "\r\n", status=301)
            response["Location"] = request.build_absolute_uri(uri)
            return response
        return text(uri + "\r\n")
    if action == "move":
        moved = operations.move_session(session, values.get("newProject", ""), by=request.user)
        return text(session_uri(moved or session) + "\r\n")
    if action == "reset-status":
        operations.reset_status(session, by=request.user)
        return text(session_uri(session) + "\r\n")
    if action == "delete":
        operations.delete_session(session, by=request.user)
        return text("")
    raise InvalidInput(
        f"Unknown prearchive action '{action}'; one of build, commit, move, reset-status, delete"
    )
