"""`POST /data/services/import`: a zip/tar of DICOM (raw body or multipart) into the prearchive, or
straight into the archive, through the one ingest path (xnat-rest-api.md §8.1, xnat-spec.md §9.1).

The body is streamed to a private upload folder, never read into memory; prearchive/uploads.py takes
it apart safely. The answer is XNAT's: 200, one URI per session, CRLF-terminated. Into the archive,
labels that look like a name or an MRN need `confirmIdentifiers=true` (409 without it; the session
stays in the prearchive, built, for review).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse

from archiving.identity import CONFIRM_PARAMETER
from prearchive import uploads
from prearchive.ingest import IngestContext
from xnatapi import documents as docs
from xnatapi.http import api_view, flag, method_not_allowed, text
from xnatapi.views.prearchive import session_uri
from xnatlite import permissions
from xnatlite import uploads as kernel_uploads
from xnatlite.errors import InvalidInput, NotFound

log = logging.getLogger("xnatlite.api")

SKIPPED_NAMED = 50  # skipped files named in X-Skipped-File-Names
HANDLERS = ("DICOM-zip", "dicom-zip", "gradual-DICOM", "gradual-dicom", "")


def parse_dest(dest: str) -> dict[str, str]:
    """`/prearchive[/projects/P]` or `/archive[/projects/P[/subjects/S[/experiments/E]]]`."""
    parts = [p for p in dest.removeprefix("/data").strip("/").split("/") if p]
    if not parts:
        return {"where": "prearchive"}
    if parts[0] not in ("prearchive", "archive"):
        raise InvalidInput(f"dest must start with /prearchive or /archive, not '{dest}'")
    found = {"where": parts[0]}
    keys = {"projects": "project", "subjects": "subject", "experiments": "session"}
    for key, value in zip(parts[1::2], parts[2::2], strict=False):
        if key not in keys:
            raise InvalidInput(f"dest '{dest}' has an unknown part '{key}'")
        found[keys[key]] = value
    return found


def _first(values: dict[str, str], *names: str) -> str:
    return next((values[n] for n in names if values.get(n)), "")


@api_view
def import_service(request: HttpRequest) -> HttpResponse:
    if request.method not in ("POST", "PUT"):
        return method_not_allowed(request)
    values = {key: request.GET.get(key, "") for key in request.GET}
    multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data")
    if multipart:  # Django streams multipart files to temporary files, not memory
        values.update({key: request.POST.get(key, "") for key in request.POST})
    handler = values.get("import-handler", "")
    if handler not in HANDLERS:
        raise NotFound(f"Import handler '{handler}' is not supported; use DICOM-zip or gradual-DICOM")
    dest = parse_dest(values.get("dest", ""))
    project = _first(values, "PROJECT_ID", "project") or dest.get("project", "")
    if project:
        permissions.get_project(request.user, project, "prearchive")
    direct = dest["where"] == "archive" or flag(values.get("Direct-Archive"))
    auto = flag(values.get("auto-archive")) or flag(values.get("AA"))
    context = IngestContext(
        source=values.get("SOURCE") or "import",
        project=project or None,
        subject=_first(values, "SUBJECT_ID", "subject") or dest.get("subject", ""),
        session=_first(values, "EXPT_LABEL", "session") or dest.get("session", ""),
        prevent_anon=flag(values.get("prevent_anon")),
        prevent_auto_commit=flag(values.get("prevent_auto_commit")),
        visit=values.get("VISIT", ""),
        protocol=values.get("SUBTYPE", ""),
        timezone=values.get("TIMEZONE", ""),
        user=request.user,
        upload=uploads.upload_id(),
    )
    ignore = flag(values.get("Ignore-Unparsable")) or values.get("action") == "commit"
    with kernel_uploads.upload_folder() as folder:
        path = folder / "upload"
        if multipart:
            uploaded = next(iter(request.FILES.values()), None)
            if uploaded is None:
                raise InvalidInput("The multipart body holds no file")
            kernel_uploads.save_stream(uploaded, path)
        else:
            kernel_uploads.save_stream(request, path)
        if path.stat().st_size == 0:
            raise InvalidInput("The request has no body: send the zip as the body")
        result = uploads.ingest_upload(path, context, ignore_unparsable=ignore)
    if not result.sessions:
        raise InvalidInput(f"The upload held no DICOM files ({len(result.skipped)} other files skipped)")
    placed = uploads.finish_upload(
        context.upload,
        result.sessions,
        by=request.user,
        archive=direct or auto,
        commit=not context.prevent_auto_commit,
        overwrite=values.get("overwrite") or "none",
        confirm_identifiers=flag(values.get(CONFIRM_PARAMETER)),
    )
    lines = [docs.archive_uri(archived) if archived else session_uri(session) for session, archived in placed]
    log.info(
        "import by %s: %d files, %d sessions, %d skipped",
        request.user,
        result.files,
        len(result.sessions),
        len(result.skipped),
    )
    response = text("".join(line + "\r\n" for line in lines))
    response["X-Imported-Files"] = str(result.files)
    response["X-Skipped-Files"] = str(len(result.skipped))  # non-DICOM members, with Ignore-Unparsable
    if result.skipped:  # which ones, URL-quoted (a member's name may hold anything)
        response["X-Skipped-File-Names"] = ", ".join(quote(name) for name in result.skipped[:SKIPPED_NAMED])
    return response
