"""The upload page: a zip/tar, DICOM files or a folder into a project's prearchive, through
prearchive/uploads.py into the same ingest path as the DICOM receiver; static/upload.js shows progress.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from archive.views import page, uploads_to_disk
from prearchive import queries, uploads
from prearchive.ingest import IngestContext
from prearchive.models import PrearchiveSession
from prearchive.uploads import ingest_upload
from prearchive.views.pages import session_url
from xnatlite import layout, permissions
from xnatlite.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

SKIPPED_SHOWN = 20


# --- upload -------------------------------------------------------------------------------------------
class UploadForm(forms.Form):
    project = forms.ChoiceField(label="Project")
    subject = forms.CharField(
        label="Subject (optional)",
        required=False,
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
        help_text="Empty: taken from the DICOM headers, as for data sent by a scanner.",
    )
    session = forms.CharField(
        label="Session (optional)",
        required=False,
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
    )

    def __init__(self, data, projects: list[str]):
        super().__init__(data)
        self.fields["project"].choices = [(p, p) for p in projects]


def _upload_projects(request: HttpRequest) -> list[str]:
    return list(
        permissions.projects_for(request.user, "prearchive").order_by("id").values_list("pk", flat=True)
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@uploads_to_disk
@page
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a zip/tar or DICOM files into a project's prearchive: every file goes to disk, never memory."""
    projects = _upload_projects(request)
    initial_project = request.GET.get("project", "")
    form = UploadForm(request.POST if request.method == "POST" else None, projects)
    if request.method == "GET":
        form.initial["project"] = initial_project
        return render(request, "prearchive/upload.html", {"form": form, "projects": projects})
    files = request.FILES.getlist("files")
    outcome = {"sessions": [], "files": 0, "skipped": [], "error": "", "unreadable": False}
    if not form.is_valid():
        outcome["error"] = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
    elif not files:
        outcome["error"] = "Choose a zip file or DICOM files to upload."
    else:
        # The last request of an upload commits its sessions (the page's script sends commit=0 before,
        # and the ids of the sessions earlier batches filled in `also`), as XNAT's import does.
        also = [int(i) for i in request.POST.getlist("also") if i.isdigit()]
        commit = request.POST.get("commit", "1") != "0"
        upload_id = uploads.upload_id(request.POST.get("upload", ""))
        outcome = _ingest(request, form.cleaned_data, files, upload_id, commit_also=also if commit else None)
    if _wants_json(request):
        return JsonResponse(outcome, status=400 if outcome["error"] and not outcome["files"] else 200)
    return render(request, "prearchive/upload.html", {"form": form, "projects": projects, "outcome": outcome})


def _ingest(request: HttpRequest, data: dict, files, upload_id: str, commit_also: list[int] | None) -> dict:
    """Ingest each uploaded file (an archive member by member); report sessions, counts, refusals.

    Unless `commit_also` is None (a batch before the last) the upload ends here: the sessions filled
    (and those named in it) are committed, built and made READY at once instead of after the idle
    timeout, and auto-archived if the project says so (prearchive/operations.py rebuild_session,
    XNAT's `action=commit`). An upload stopped by a refusal is not committed: its sessions stay
    marked as an unfinished upload (prearchive/uploads.py).
    """
    context = IngestContext(
        source="web",
        project=data["project"],
        subject=data["subject"],
        session=data["session"],
        user=request.user,
        upload=upload_id,
    )
    sessions: dict[int, PrearchiveSession] = {}
    count, skipped, error = 0, [], ""
    for uploaded in files:
        path = Path(uploaded.temporary_file_path())
        taken = [0]  # files of this upload ingested so far, kept even if a later member is refused
        try:
            result = ingest_upload(
                path, context, ignore_unparsable=True, progress=functools.partial(taken.__setitem__, 0)
            )
        except (InvalidInput, NotFound) as exc:  # a hostile archive, a project the user may not use
            error = f"{uploaded.name}: {exc.message}"
            log.warning("upload by %s refused after %d files: %s", request.user, taken[0], error)
            count += taken[0]
            break
        finally:
            uploaded.close()
        count += result.files
        # A single file is ingested under its temporary name: report the name the user knows.
        skipped += [
            uploaded.name if name == path.name else f"{uploaded.name}: {name}" for name in result.skipped
        ]
        for session in result.sessions:
            sessions.setdefault(session.pk, session)
    log.info(
        "upload by %s into %s: %d files, %d sessions", request.user, data["project"], count, len(sessions)
    )
    shown = list(sessions)
    if commit_also is not None and not error:
        shown += [pk for pk in commit_also if pk not in sessions]  # their new status, for the page
        uploads.finish_upload(
            upload_id,
            list(queries.prearchive_listing(request.user).filter(pk__in=shown)),
            by=request.user,
            archive=False,
            commit=True,
        )
    # Nothing in this request could be read: say which files, as a refusal. `unreadable` lets the
    # page's script go on with the next batch of a folder: the upload fails only if no batch had DICOM.
    unreadable = not count and not error
    if unreadable and skipped:
        error = f"No file could be read as DICOM: {', '.join(skipped[:SKIPPED_SHOWN])}"
    elif unreadable:  # an empty zip or tar: nothing at all came
        error = f"No DICOM file in {', '.join(f.name for f in files[:SKIPPED_SHOWN])}: it holds no files"
    fresh = {s.pk: s for s in queries.prearchive_listing(request.user).filter(pk__in=shown)}
    rows = [_session_json(fresh[pk]) for pk in shown if pk in fresh]
    # A session gone from the prearchive after its commit was archived (the project archives by itself).
    rows += [_archived_json(sessions[pk]) for pk in sessions if pk not in fresh]
    return {
        "sessions": rows,
        "files": count,
        "skipped": skipped[:SKIPPED_SHOWN],
        "skipped_count": len(skipped),
        "error": error,
        "unreadable": unreadable,
    }


def _archived_json(session: PrearchiveSession) -> dict:
    archived = queries.archived_as(session)
    url = (
        reverse("session-detail", args=[archived.project_id, archived.label])
        if archived
        else reverse("project-detail", args=[session.project_id])
    )
    return {**_session_json(session), "url": url, "status": "ARCHIVED"}


def _session_json(session: PrearchiveSession) -> dict:
    return {
        "id": session.pk,
        "url": session_url(session),
        "project": session.project_name,
        "subject": session.subject_label,
        "label": session.label,
        "status": session.status,
        "files": session.file_count,
        "scans": session.scan_count,
    }
