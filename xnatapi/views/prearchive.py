"""The prearchive over REST: `/data/prearchive/projects[/...]` listings, one session, its scans,
resources and files, zip download, and the per-session actions (xnat-rest-api.md §9).

Rows come from prearchive/queries.py (constant queries); actions go through prearchive/operations.py.
"""

from __future__ import annotations

import json

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

from archive import downloads
from archive.models import ImageSession
from prearchive import queries
from prearchive.models import PrearchiveSession
from xnatapi import documents as docs
from xnatapi import render
from xnatapi.http import api_view, method_not_allowed, params, text
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
    if session.project_id and not PrearchiveSession.objects.filter(pk=session.pk).exists():
        archived = (
            ImageSession.objects.select_related("subject")
            .filter(project_id=session.project_id, label=session.label)
            .first()
        )
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


@api_view
def session_view(
    request: HttpRequest, project: str, timestamp: str, folder: str, rest: str = ""
) -> HttpResponse:
    """One prearchive session and what is below it; POST runs an action, DELETE deletes it."""
    session = queries.get_prearchive_session(request.user, project, timestamp, folder)
    if request.method == "DELETE" and not rest:
        from prearchive import operations

        operations.delete_session(session, by=request.user)
        return text("")
    if request.method in ("POST", "PUT") and not rest:
        return _action(request, session)
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request)
    parts = [p for p in rest.strip("/").split("/") if p]
    base = session_uri(session)
    if not parts:
        if render.output_format(request) == "zip":
            return _zip(session)
        row = prearchive_row(session)
        return render.listing(
            request, [row], columns=PREARCHIVE_COLUMNS + ["details"], title="prearchive", fixed=True
        )
    if parts[0] != "scans":
        raise NotFound(f"Unknown path element '{parts[0]}'")
    scans = queries.scan_summary(session)
    if len(parts) == 1:
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
            for scan in scans
        )
        columns = ["ID", "series_description", "type", "modality", "frames", "file_count", "URI"]
        return render.listing(request, rows, columns=columns, title="scans", always=("ID", "URI"))
    scan_id = parts[1]
    scan = next((s for s in scans if s["scan_id"] == scan_id), None)
    if scan is None:
        raise NotFound(f"Scan '{scan_id}' not found")
    files = queries.session_files(session).filter(scan_id=scan_id)
    if len(parts) == 2:
        fields = {"ID": scan_id, "series_description": scan["series_description"] or ""}
        return HttpResponse(json.dumps({"items": [{"data_fields": fields}]}), content_type="application/json")
    if parts[2] != "resources":
        raise NotFound(f"Unknown path element '{parts[2]}'")
    if len(parts) == 3:
        row = {
            "label": "DICOM",
            "file_count": str(scan["files"]),
            "file_size": str(scan["size"] or 0),
            "format": "DICOM",
        }
        return render.listing(request, [row], columns=list(row), title="resources", fixed=True)
    if parts[3] != "DICOM":
        raise NotFound(f"Resource '{parts[3]}' not found")
    if len(parts) == 4 or parts[4] != "files":
        raise NotFound("Not found")
    uri = f"{base}/scans/{scan_id}/resources/DICOM/files"
    if len(parts) == 5:
        if render.output_format(request) == "zip":
            entries = (
                downloads.Entry(f"{folder}/SCANS/{scan_id}/DICOM/{_name(f)}", f.absolute_path) for f in files
            )
            return _zip_stream(entries, folder)
        rows = (
            {"Name": _name(f), "Size": str(f.size), "URI": f"{uri}/{_name(f)}", "digest": f.md5}
            for f in files
        )
        return render.listing(
            request, rows, columns=["Name", "Size", "URI", "digest"], title="files", fixed=True
        )
    name = "/".join(parts[5:])
    chosen = next((f for f in files if _name(f) == name), None)
    if chosen is None:
        raise NotFound(f"File '{name}' not found")
    return FileResponse(open(chosen.absolute_path, "rb"), content_type="application/octet-stream")  # noqa: SIM115


def _name(file) -> str:
    return file.path.rsplit("/", 1)[-1]


def _zip(session: PrearchiveSession) -> StreamingHttpResponse:
    """The session's files as `{folder}/SCANS/{scan}/DICOM/{file}` (what XNAT's prearchive zip holds)."""
    entries = (
        downloads.Entry(f"{session.folder_name}/SCANS/{f.scan_id}/DICOM/{_name(f)}", f.absolute_path)
        for f in queries.session_files(session).iterator(chunk_size=2000)
    )
    return _zip_stream(entries, session.folder_name)


def _zip_stream(entries, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(downloads.stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{layout.clean_label(name)}.zip"'
    return response


def _action(request: HttpRequest, session: PrearchiveSession) -> HttpResponse:
    """`POST .../{P}/{TS}/{S}?action=build|commit|rebuild|move|reset-status|archive` (§3.7)."""
    from prearchive import operations

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
