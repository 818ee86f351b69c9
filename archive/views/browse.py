"""Subject, session and scan pages (members edit their fields there), file and zip downloads."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from archive import downloads, forms, queries
from archive.models import File, ImageSession, Scan, Subject
from archive.services.scans import update_scan
from archive.services.sessions import update_session
from archive.services.subjects import update_subject
from archive.views import resources
from archive.views.common import (
    header_of,
    history_rows,
    owned_file,
    page,
    paginate,
    project_context,
    readable_project,
    scan_of,
    session_file,
    subject_of,
)
from xnatlite import permissions
from xnatlite.errors import InvalidInput, NotFound
from xnatlite.models import Project

log = logging.getLogger(__name__)

IMAGE_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _edit_form(request: HttpRequest, obj, form_class, update: Callable, what: str):
    """(form, saved): the object's edit form; a POST needs `edit` and saves via archive/services/."""
    initial = {name: getattr(obj, name) for name in form_class.base_fields}
    form = form_class(request.POST or None, initial=initial)
    if request.method != "POST":
        return form, False
    permissions.require(request.user, "edit", obj)
    if not form.is_valid():
        return form, False
    try:
        update(obj, by=request.user, **form.cleaned_data)
    except InvalidInput as exc:
        form.add_error(None, exc.message)
        return form, False
    messages.success(request, f"{what} saved.")
    return form, True


@page
def subject_detail(request: HttpRequest, project_id: str, subject: str) -> HttpResponse:
    project = readable_project(request, project_id)
    found = subject_of(project, subject)
    form, saved = _edit_form(request, found, forms.SubjectEditForm, update_subject, f"Subject {found.label}")
    if saved:
        return redirect("subject-detail", project_id=project.id, subject=found.label)
    context = project_context(request, project, "subjects")
    sessions = queries.session_listing(project, subject=found, sort=request.GET.get("sort", "-date"))
    context.update(
        subject=found,
        form=form,
        relabel_form=forms.RelabelForm(initial={"label": found.label}),
        sessions=sessions,
        sort=request.GET.get("sort", "-date"),
        history=_history(request, project, found, queries.subject_history(found)),
        can_download=permissions.can(request.user, "download", project),
        **_resource_context(request, found),
    )
    return render(request, "archive/subject_detail.html", context)


def _history(request: HttpRequest, project: Project, owner: Subject | ImageSession, events) -> list:
    """The history of a subject or session: owners see it all; anyone else sees no pre-archive
    identifiers (the prearchive path, labels from before a rename), objects by today's labels."""
    if permissions.can(request.user, "manage", project):
        return history_rows(events)
    return history_rows(events, full=False, labels=queries.history_labels(owner))


def _session(request: HttpRequest, project_id: str, session: str) -> tuple[Project, ImageSession]:
    project = readable_project(request, project_id)
    return project, queries.get_session(project, session)


def _with_previews(scans) -> list[Scan]:
    """Each scan with `.preview` (its SNAPSHOTS thumbnail or image) and `.full_preview`, if any."""
    scans = list(scans)
    for scan in scans:
        images = [f for r in scan.snapshot_resources for f in r.files.all()]
        thumbnails = [f for f in images if f.content.upper().endswith("THUMBNAIL")]
        full = [f for f in images if f not in thumbnails]
        scan.full_preview = full[0] if full else (thumbnails[0] if thumbnails else None)
        scan.preview = thumbnails[0] if thumbnails else scan.full_preview
    return scans


@page
def session_detail(request: HttpRequest, project_id: str, session: str) -> HttpResponse:
    """A session: its fields, scans with previews, resources, downloads and history."""
    project, found = _session(request, project_id, session)
    form, saved = _edit_form(request, found, forms.SessionEditForm, update_session, f"Session {found.label}")
    if saved:
        return redirect("session-detail", project_id=project.id, session=found.label)
    context = project_context(request, project, "sessions")
    context.update(
        session=found,
        form=form,
        relabel_form=forms.RelabelForm(initial={"label": found.label}),
        scans=_with_previews(queries.session_scans(found)),
        **_resource_context(request, found),
        history=_history(request, project, found, queries.session_history(found)),
        qualities=forms.ScanEditForm.base_fields["quality"].choices,
        can_download=permissions.can(request.user, "download", project),
        download_url=reverse("session-download", args=[project.id, found.label]),
    )
    return render(request, "archive/session_detail.html", context)


@page
@require_POST
def session_scans_edit(request: HttpRequest, project_id: str, session: str) -> HttpResponse:
    """Save the type, quality and note of every scan in the session page's table at once, or none."""
    project, found = _session(request, project_id, session)
    permissions.require(request.user, "edit", found)
    try:
        with transaction.atomic():
            for scan in Scan.objects.filter(session=found):
                scan.session = found
                fields = {
                    name: request.POST[f"{name}-{scan.scan_id}"]
                    for name in ("type", "quality", "note")
                    if f"{name}-{scan.scan_id}" in request.POST
                }
                if fields:
                    update_scan(scan, by=request.user, **fields)
    except InvalidInput as exc:
        messages.error(request, f"Nothing was saved: {exc.message}")
    else:
        messages.success(request, "Scans saved.")
    return redirect("session-detail", project_id=project.id, session=found.label)


@page
def scan_detail(request: HttpRequest, project_id: str, session: str, scan_id: str) -> HttpResponse:
    """A scan: its fields, resources and files, and the DICOM header of a chosen file."""
    project, found = _session(request, project_id, session)
    scan = scan_of(found, scan_id)
    form, saved = _edit_form(request, scan, forms.ScanEditForm, update_scan, f"Scan {scan.scan_id}")
    if saved:
        return redirect("scan-detail", project_id=project.id, session=found.label, scan_id=scan.scan_id)
    chosen = _chosen_file(request, queries.scan_files(scan))
    header, header_error = header_of(chosen.absolute_path, chosen.name) if chosen else ([], "")
    context = project_context(request, project, "sessions")
    context.update(
        session=found,
        scan=_with_previews(queries.session_scans(found).filter(pk=scan.pk))[0],
        form=form,
        **_resource_context(request, scan),
        chosen=chosen,
        header=header,
        header_error=header_error,
        can_download=permissions.can(request.user, "download", project),
    )
    return render(request, "archive/scan_detail.html", context)


def _resource_context(request: HttpRequest, owner: Project | Subject | ImageSession | Scan) -> dict:
    """What the resources section of a project, subject, session or scan page shows: its own
    resources, their files (paginated, with their download and delete links) and the upload form."""
    owned = list(queries.resources_of(owner))
    for resource in owned:
        resource.delete_url = resources.resource_delete_url(owner, resource)
    listed = queries.scan_files(owner) if isinstance(owner, Scan) else queries.resource_files_of(owner)
    files = paginate(request, listed, per_page=100)
    for file in files.object_list:
        file.download_url, file.delete_url = resources.file_urls(owner, file)
    return {
        "resources": owned,
        "resource_labels": [r.label for r in owned],
        "files": files,
        "upload_form": resources.upload_form(),
        "upload_url": resources.upload_url(owner),
    }


@page
def project_resources(request: HttpRequest, project_id: str) -> HttpResponse:
    """The project's own files (protocols, consent templates, analysis code): readers list and download
    them, members and owners upload, owners delete."""
    project = readable_project(request, project_id)
    context = project_context(request, project, "resources")
    context.update(
        can_download=permissions.can(request.user, "download", project), **_resource_context(request, project)
    )
    return render(request, "archive/project_resources.html", context)


def _chosen_file(request: HttpRequest, files: list[File]) -> File | None:
    """The file named by `?file=<id>` among the scan's files, else its first DICOM file (the lowest
    InstanceNumber: `files` come from queries.scan_files)."""
    wanted = request.GET.get("file", "")
    if wanted.isdigit():
        return next((f for f in files if f.pk == int(wanted)), None)
    return next((f for f in files if f.resource.label == "DICOM"), files[0] if files else None)


@page
def file_download(request: HttpRequest, project_id: str, session: str, file_id: int) -> HttpResponse:
    """One file of the session (scan or session resource); images such as previews show inline."""
    project, found = _session(request, project_id, session)
    permissions.require(request.user, "download", project)
    return _file_response(session_file(found, file_id), found)


@page
def project_file_download(request: HttpRequest, project_id: str, file_id: int) -> HttpResponse:
    """One file of the project's own resources."""
    project = readable_project(request, project_id)
    permissions.require(request.user, "download", project)
    return _file_response(owned_file(project, file_id), project)


@page
def subject_file_download(request: HttpRequest, project_id: str, subject: str, file_id: int) -> HttpResponse:
    """One file of the subject's own resources."""
    project = readable_project(request, project_id)
    found = subject_of(project, subject)
    permissions.require(request.user, "download", project)
    return _file_response(owned_file(found, file_id), found)


def _file_response(file: File, where: Project | Subject | ImageSession) -> HttpResponse:
    path = file.absolute_path
    if not path.is_file():
        log.error("file %s of %s is missing on disk: %s", file.pk, where, path)
        raise NotFound(f"{file.name} is missing on disk; ask an administrator")
    image_type = IMAGE_TYPES.get(path.suffix.lower())
    name = file.name.rsplit("/", 1)[-1]
    if image_type:
        return FileResponse(open(path, "rb"), content_type=image_type, filename=name)  # noqa: SIM115
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name)  # noqa: SIM115


@page
def session_download(request: HttpRequest, project_id: str, session: str) -> HttpResponse:
    """The session as a zip in XNAT's layout, or only the scans named by `?scan=` (streamed)."""
    project, found = _session(request, project_id, session)
    permissions.require(request.user, "download", project)
    wanted = request.GET.getlist("scan")
    if wanted:
        scans = list(Scan.objects.filter(session=found, scan_id__in=wanted))
        missing = sorted(set(wanted) - {s.scan_id for s in scans})
        if missing:
            raise NotFound(f"No scan {', '.join(missing)} in session {found.label}")
        entries = downloads.session_entries(found, scans=scans)
        name = f"{found.label}_scans_{'_'.join(s.scan_id for s in scans)}"[:120]
    else:
        entries = itertools.chain(downloads.session_entries(found), downloads.session_resource_entries(found))
        name = found.label
    log.info("%s downloads %s/%s %s", request.user, project.id, found.label, wanted or "all scans")
    response = StreamingHttpResponse(downloads.stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response
