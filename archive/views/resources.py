"""Uploading files into a named resource of a subject, session or scan (members and owners): notes,
NIFTI, a report, or a zip to unpack. archive/services/resources.py creates the resource if it is new and streams each file
to disk with its size and MD5; the request's files are temporary files on disk, never memory. The
files are listed, downloaded and deleted from the session and scan pages (browse.py, changes.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from archive import forms, queries
from archive.models import File, ImageSession, Resource, Scan, Subject
from archive.services.resources import create_resource, find_resource, store_file
from archive.views.changes import owner_url
from archive.views.common import page, project_context, readable_project, scan_of, subject_of, uploads_to_disk
from xnatlite import layout, permissions
from xnatlite.errors import ArchiveConflict, InvalidInput, NotFound
from xnatlite.models import Project

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    resource: str
    stored: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, why)
    conflict: bool = False  # a file existed and "overwrite" was not ticked


def upload_form(data=None) -> forms.ResourceUploadForm:
    return forms.ResourceUploadForm(data, prefix="upload")


Owner = Project | Subject | ImageSession | Scan


def _route_args(owner: Owner) -> tuple[str, list[str]]:
    """(the owner's kind in route names, the route arguments naming it)."""
    if isinstance(owner, Scan):
        return "scan", [owner.session.project_id, owner.session.label, owner.scan_id]
    if isinstance(owner, ImageSession):
        return "session", [owner.project_id, owner.label]
    if isinstance(owner, Subject):
        return "subject", [owner.project_id, owner.label]
    return "project", [owner.id]


def upload_url(owner: Owner) -> str:
    kind, args = _route_args(owner)
    return reverse(f"{kind}-resource-upload", args=args)


def resource_delete_url(owner: Owner, resource: Resource) -> str:
    kind, args = _route_args(owner)
    return reverse(f"{kind}-resource-delete", args=[*args, resource.label])


def file_urls(owner: Owner, file: File) -> tuple[str, str]:
    """(download, delete) of a file of the owner's resources; a scan's files are the session's."""
    kind, args = _route_args(owner)
    if kind == "scan":
        kind, args = "session", args[:2]
    prefix = "" if kind == "session" else f"{kind}-"
    return (
        reverse(f"{prefix}file-download", args=[*args, file.pk]),
        reverse(f"{prefix}file-delete", args=[*args, file.pk]),
    )


def _store(request: HttpRequest, owner: Owner, data: dict, files: list) -> Outcome:
    """Store each uploaded file (or unpack each archive) on its own; a refusal does not stop the rest."""
    folder = data["folder"].strip().strip("/")
    names = [f"{folder}/{uploaded.name}" if folder else uploaded.name for uploaded in files]
    for name in names:  # the service checks again; checking first creates no resource for nothing
        layout.check_file_name(name)
    try:
        resource = find_resource(owner, data["resource"])
    except NotFound:
        resource = create_resource(
            owner, data["resource"], by=request.user, format=data["format"], content=data["content"]
        )
    outcome = Outcome(resource.label)
    for uploaded, name in zip(files, names, strict=True):
        try:
            stored = store_file(
                resource,
                name,
                uploaded,
                by=request.user,
                overwrite=data["overwrite"],
                extract=data["extract"],
                format=data["format"],
                content=data["content"],
            )
        except ArchiveConflict as exc:
            outcome.refused.append((uploaded.name, exc.message))
            outcome.conflict = True
        except InvalidInput as exc:  # a name the service refuses, an archive it will not unpack
            outcome.refused.append((uploaded.name, exc.message))
        else:
            outcome.stored += [f.name for f in stored]
        finally:
            uploaded.close()
    log.info(
        "%s stored %d file(s) in %s/%s, %d refused",
        request.user,
        len(outcome.stored),
        owner,
        resource.label,
        len(outcome.refused),
    )
    return outcome


def _upload_page(request: HttpRequest, project: Project, owner: Owner) -> HttpResponse:
    permissions.require(request.user, "edit", owner)
    form = upload_form(request.POST if request.method == "POST" else None)
    if request.method == "GET":
        form.initial["resource"] = request.GET.get("resource", "")
    outcome, status = None, 200
    if request.method == "POST":
        files = request.FILES.getlist("files")
        if form.is_valid() and not files:
            form.add_error(None, "Choose one or more files to upload.")
        if form.is_valid():
            try:
                outcome = _store(request, owner, form.cleaned_data, files)
            except InvalidInput as exc:  # a file name refused before anything was written
                form.add_error("folder", exc.message)
            else:
                if not outcome.refused:
                    count = len(outcome.stored)
                    messages.success(
                        request,
                        f"{count} file{'s' if count != 1 else ''} stored in resource {outcome.resource}: "
                        + ", ".join(outcome.stored[:20])
                        + (" …" if count > 20 else ""),
                    )
                    return redirect(owner_url(owner))
                status = 409 if outcome.conflict else 400
    kind = _route_args(owner)[0]
    context = project_context(
        request, project, {"project": "resources", "subject": "subjects"}.get(kind, "sessions")
    )
    context.update(
        owner_kind=kind,
        subject=owner if kind == "subject" else None,
        session=owner.session if kind == "scan" else (owner if kind == "session" else None),
        scan=owner if kind == "scan" else None,
        upload_form=form,
        upload_url=request.path,
        resource_labels=Resource.objects.filter(**{Resource.owner_field(owner): owner})
        .order_by("label")
        .values_list("label", flat=True),
        outcome=outcome,
        back=owner_url(owner),
    )
    return render(request, "archive/resource_upload.html", context, status=status)


@uploads_to_disk
@page
def session_resource_upload(request: HttpRequest, project_id: str, session: str) -> HttpResponse:
    project = readable_project(request, project_id)
    return _upload_page(request, project, queries.get_session(project, session))


@uploads_to_disk
@page
def scan_resource_upload(request: HttpRequest, project_id: str, session: str, scan_id: str) -> HttpResponse:
    project = readable_project(request, project_id)
    return _upload_page(request, project, scan_of(queries.get_session(project, session), scan_id))


@uploads_to_disk
@page
def project_resource_upload(request: HttpRequest, project_id: str) -> HttpResponse:
    project = readable_project(request, project_id)
    return _upload_page(request, project, project)


@uploads_to_disk
@page
def subject_resource_upload(request: HttpRequest, project_id: str, subject: str) -> HttpResponse:
    project = readable_project(request, project_id)
    return _upload_page(request, project, subject_of(project, subject))
