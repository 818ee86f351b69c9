"""Creating subjects and sessions by hand, relabelling them (members and owners), and deleting archived
data (owners only, xnat-spec.md §2.2), each through xnatlite/projects.py or archive/services/
(relabelling through archiving/relabel.py, which also writes the new labels into the DICOM headers).

A deletion asks first, on a page of its own that says what goes (sessions, scans, files, bytes): a
plain form, so it needs no JavaScript. Afterwards the parent page says what was deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import capfirst, filesizeformat, pluralize
from django.urls import reverse

from archive import forms, queries
from archive.models import File, ImageSession, Resource, Scan, Subject
from archive.services.resources import delete_file, delete_resource, find_resource
from archive.services.scans import delete_scan
from archive.services.sessions import create_session, delete_session
from archive.services.subjects import create_subject, delete_subject, update_subject
from archive.views.common import (
    owned_file,
    page,
    project_context,
    readable_project,
    scan_of,
    session_file,
    subject_of,
)
from archiving.relabel import relabel_session, relabel_subject
from xnatlite import permissions
from xnatlite.errors import ArchiveConflict, InvalidInput
from xnatlite.models import Project

log = logging.getLogger(__name__)

SESSIONS_NAMED = 50  # a subject's sessions listed by label on its delete page


def owner_url(owner: Project | Subject | ImageSession | Scan) -> str:
    """The page listing the resources of a project, subject, session or scan."""
    if isinstance(owner, Project):
        return reverse("project-resources", args=[owner.id])
    if isinstance(owner, Scan):
        session = owner.session
        return reverse("scan-detail", args=[session.project_id, session.label, owner.scan_id])
    if isinstance(owner, Subject):
        return reverse("subject-detail", args=[owner.project_id, owner.label])
    return reverse("session-detail", args=[owner.project_id, owner.label])


def _owner_title(owner: Project | Subject | ImageSession | Scan) -> str:
    if isinstance(owner, Project):
        return f"project {owner.id}"
    if isinstance(owner, Scan):
        return f"scan {owner.scan_id}"
    return f"{'subject' if isinstance(owner, Subject) else 'session'} {owner.label}"


def _owner_tab(owner: Project | Subject | ImageSession | Scan) -> str:
    if isinstance(owner, Project):
        return "resources"
    return "subjects" if isinstance(owner, Subject) else "sessions"


# --- creating by hand -----------------------------------------------------------------------------
@page
def subject_create(request: HttpRequest, project_id: str) -> HttpResponse:
    """A new subject with optional group and demographics (members and owners)."""
    project = readable_project(request, project_id)
    permissions.require(request.user, "create", project)
    form = forms.SubjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        fields = {k: v for k, v in form.cleaned_data.items() if k != "label" and v not in ("", None)}
        failing_field: str | None = "label"  # what create_subject refuses is about the label
        try:
            with transaction.atomic():  # a refused demographic leaves no subject behind
                subject = create_subject(project, form.cleaned_data["label"], by=request.user)
                failing_field = None
                if fields:
                    update_subject(subject, by=request.user, **fields)
        except InvalidInput as exc:
            form.add_error(failing_field, exc.message)
        else:
            messages.success(request, f"Subject {subject.label} created ({subject.accession_id}).")
            return redirect("subject-detail", project_id=project.id, subject=subject.label)
    context = project_context(request, project, "subjects")
    context.update(form=form)
    return render(request, "archive/subject_create.html", context)


@page
def session_create(request: HttpRequest, project_id: str, subject: str) -> HttpResponse:
    """An empty session of a subject, for data that comes later as resources (members and owners)."""
    project = readable_project(request, project_id)
    found = subject_of(project, subject)
    permissions.require(request.user, "create", project)
    form = forms.SessionCreateForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        label, xsi_type = data.pop("label"), data.pop("xsi_type")
        fields = {k: v for k, v in data.items() if v not in ("", None)}
        try:
            session = create_session(found, label, by=request.user, xsi_type=xsi_type, **fields)
        except ArchiveConflict as exc:
            form.add_error("label", exc.message)
            status = 409
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Session {session.label} created ({session.accession_id}).")
            return redirect("session-detail", project_id=project.id, session=session.label)
    context = project_context(request, project, "subjects")
    context.update(form=form, subject=found)
    return render(request, "archive/session_create.html", context, status=status)


# --- relabelling ----------------------------------------------------------------------------------
def _relabel(
    request: HttpRequest,
    project: Project,
    obj: Subject | ImageSession,
    relabel: Callable,
    *,
    what: str,
    tab: str,
    done: Callable[[str], HttpResponse],
) -> HttpResponse:
    """The relabel form of a subject or session; errors next to the field, the new page on success."""
    permissions.require(request.user, "edit", obj)
    old = obj.label
    form = forms.RelabelForm(request.POST or None, initial={"label": old})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            relabel(obj, form.cleaned_data["label"], by=request.user)
        except ArchiveConflict as exc:
            form.add_error("label", exc.message)
            status = 409
        except InvalidInput as exc:
            form.add_error("label", exc.message)
        else:
            if obj.label == old:
                messages.info(request, f"{what.capitalize()} {old} kept its label.")
            else:
                messages.success(
                    request,
                    f"{what.capitalize()} {old} is now {obj.label}; its folder was renamed and its "
                    "DICOM files carry the new label.",
                )
            return done(obj.label)
    context = project_context(request, project, tab)
    context.update(relabel_form=form, what=what, obj=obj, old=old)
    return render(request, "archive/relabel.html", context, status=status)


@page
def subject_relabel(request: HttpRequest, project_id: str, subject: str) -> HttpResponse:
    project = readable_project(request, project_id)
    found = subject_of(project, subject)
    return _relabel(
        request,
        project,
        found,
        relabel_subject,
        what="subject",
        tab="subjects",
        done=lambda label: redirect("subject-detail", project_id=project.id, subject=label),
    )


@page
def session_relabel(request: HttpRequest, project_id: str, session: str) -> HttpResponse:
    project = readable_project(request, project_id)
    found = queries.get_session(project, session)
    return _relabel(
        request,
        project,
        found,
        relabel_session,
        what="session",
        tab="sessions",
        done=lambda label: redirect("session-detail", project_id=project.id, session=label),
    )


# --- deleting (owners) ----------------------------------------------------------------------------
def _summary(contents: queries.Contents, *, with_sessions: bool = False, with_scans: bool = False) -> str:
    """'2 sessions, 5 scans, 12 files (3.4 MB)'."""
    parts = []
    if with_sessions:
        parts.append(f"{contents.sessions} session{pluralize(contents.sessions)}")
    if with_scans:
        parts.append(f"{contents.scans} scan{pluralize(contents.scans)}")
    parts.append(f"{contents.files} file{pluralize(contents.files)} ({filesizeformat(contents.size)})")
    return ", ".join(parts)


def _confirm_delete(
    request: HttpRequest,
    project: Project,
    obj: Subject | ImageSession | Scan | Resource | File,
    delete: Callable,
    *,
    title: str,
    summary: str,
    back: str,
    cancel: str,
    tab: str,
    **extra,
) -> HttpResponse:
    """GET: what deleting `obj` removes, and a button. POST: delete it, then go to the parent page."""
    permissions.require(request.user, "delete", obj)
    if request.method == "POST":
        delete(obj, by=request.user)
        log.info("%s deleted %s: %s", request.user, title, summary)
        messages.success(request, f"{capfirst(title)} deleted: {summary}.")
        return redirect(back)
    context = project_context(request, project, tab)
    context.update(title=title, summary=summary, cancel=cancel, **extra)
    return render(request, "archive/confirm_delete.html", context)


@page
def subject_delete(request: HttpRequest, project_id: str, subject: str) -> HttpResponse:
    project = readable_project(request, project_id)
    found = subject_of(project, subject)
    labels = list(found.sessions.order_by("label").values_list("label", flat=True)[:SESSIONS_NAMED])
    return _confirm_delete(
        request,
        project,
        found,
        delete_subject,
        title=f"subject {found.label}",
        summary=_summary(queries.contents_of(found), with_sessions=True, with_scans=True),
        back=reverse("subject-list", args=[project.id]),
        cancel=reverse("subject-detail", args=[project.id, found.label]),
        tab="subjects",
        sessions=labels,
    )


@page
def session_delete(request: HttpRequest, project_id: str, session: str) -> HttpResponse:
    project = readable_project(request, project_id)
    found = queries.get_session(project, session)
    return _confirm_delete(
        request,
        project,
        found,
        delete_session,
        title=f"session {found.label}",
        summary=_summary(queries.contents_of(found), with_scans=True),
        back=reverse("subject-detail", args=[project.id, found.subject.label]),
        cancel=owner_url(found),
        tab="sessions",
    )


@page
def scan_delete(request: HttpRequest, project_id: str, session: str, scan_id: str) -> HttpResponse:
    project = readable_project(request, project_id)
    scan = scan_of(queries.get_session(project, session), scan_id)
    return _confirm_delete(
        request,
        project,
        scan,
        delete_scan,
        title=f"scan {scan.scan_id} of session {scan.session.label}",
        summary=_summary(queries.contents_of(scan)),
        back=owner_url(scan.session),
        cancel=owner_url(scan),
        tab="sessions",
    )


def _resource_delete(
    request: HttpRequest, project: Project, owner: Project | Subject | ImageSession | Scan, label: str
):
    resource = find_resource(owner, label)
    setattr(resource, Resource.owner_field(owner), owner)
    return _confirm_delete(
        request,
        project,
        resource,
        delete_resource,
        title=f"resource {resource.label} of {_owner_title(owner)}",
        summary=_summary(queries.contents_of(resource)),
        back=owner_url(owner),
        cancel=owner_url(owner),
        tab=_owner_tab(owner),
    )


@page
def project_resource_delete(request: HttpRequest, project_id: str, resource: str) -> HttpResponse:
    project = readable_project(request, project_id)
    return _resource_delete(request, project, project, resource)


@page
def subject_resource_delete(
    request: HttpRequest, project_id: str, subject: str, resource: str
) -> HttpResponse:
    project = readable_project(request, project_id)
    return _resource_delete(request, project, subject_of(project, subject), resource)


@page
def session_resource_delete(
    request: HttpRequest, project_id: str, session: str, resource: str
) -> HttpResponse:
    project = readable_project(request, project_id)
    return _resource_delete(request, project, queries.get_session(project, session), resource)


@page
def scan_resource_delete(
    request: HttpRequest, project_id: str, session: str, scan_id: str, resource: str
) -> HttpResponse:
    project = readable_project(request, project_id)
    scan = scan_of(queries.get_session(project, session), scan_id)
    return _resource_delete(request, project, scan, resource)


@page
def file_delete(request: HttpRequest, project_id: str, session: str, file_id: int) -> HttpResponse:
    project = readable_project(request, project_id)
    file = session_file(queries.get_session(project, session), file_id)
    return _file_delete(request, project, file)


@page
def project_file_delete(request: HttpRequest, project_id: str, file_id: int) -> HttpResponse:
    project = readable_project(request, project_id)
    return _file_delete(request, project, owned_file(project, file_id))


@page
def subject_file_delete(request: HttpRequest, project_id: str, subject: str, file_id: int) -> HttpResponse:
    project = readable_project(request, project_id)
    return _file_delete(request, project, owned_file(subject_of(project, subject), file_id))


def _file_delete(request: HttpRequest, project: Project, file: File) -> HttpResponse:
    owner = file.resource.owner
    return _confirm_delete(
        request,
        project,
        file,
        delete_file,
        title=f"file {file.name} of resource {file.resource.label}",
        summary=f"1 file ({filesizeformat(file.size)})",
        back=owner_url(owner),
        cancel=owner_url(owner),
        tab=_owner_tab(owner),
    )
