"""Project, subject, session and scan pages: thin views that parse the request, call one service or
query, and show the result. Access is decided by archive/permissions.py only; errors become pages in
`page` below (NotFound -> 404, Forbidden -> 403), so a stranger cannot tell a private project exists.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from archive import downloads, editing, forms, permissions, queries, services
from archive.models import File, ImageSession, Project, Scan
from prearchive import queries as prearchive_queries
from xnatlite.errors import Forbidden, InvalidInput, NotFound, XnatliteError

log = logging.getLogger(__name__)

PER_PAGE_DEFAULT, PER_PAGE_MAX = 50, 500
IMAGE_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


# --- the one place errors become pages --------------------------------------------------------------
def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "403.html", {"message": message}, status=403)


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A signed-in page whose NotFound is a 404 and whose Forbidden is a 403 (used by every UI app)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None
        except Forbidden as exc:
            log.info("refused %s %s to %s: %s", request.method, request.path, request.user, exc)
            return forbidden(request, exc.message)

    return wrapper


def paginate(request: HttpRequest, rows, per_page: int = PER_PAGE_DEFAULT) -> Page:
    """One page of rows (`?page=`, `?per_page=` up to 500); costs a COUNT and the page's query."""
    try:
        per_page = max(10, min(PER_PAGE_MAX, int(request.GET.get("per_page", per_page))))
    except ValueError:
        pass
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def readable_project(request: HttpRequest, project_id: str) -> Project:
    """A project whose data the user may read; NotFound otherwise (protected data stays hidden)."""
    project = permissions.get_project(request.user, project_id, "see")
    if not permissions.can(request.user, "read", project):
        raise NotFound(f"Project '{project_id}' not found")
    return project


def project_context(request: HttpRequest, project: Project, tab: str) -> dict:
    """What every project page shows in its title bar: the tabs the user may open."""
    user = request.user
    can_prearchive = permissions.can(user, "prearchive", project)
    waiting = prearchive_queries.prearchive_listing(user, [project.id]).count() if can_prearchive else None
    return {
        "project": project,
        "tab": tab,
        "can_read": permissions.can(user, "read", project),
        "can_edit": permissions.can(user, "edit", project),
        "can_manage": permissions.can(user, "manage", project),
        "can_prearchive": can_prearchive,
        "prearchive_waiting": waiting,
    }


HISTORY_HIDDEN_DETAILS = {"previous_text"}  # a whole script's text does not fit a table cell


def history_rows(events) -> list:
    """Audit events with `.summary`, their details as one line of text."""
    rows = list(events)
    for event in rows:
        parts = []
        for key, value in (event.details or {}).items():
            if key in HISTORY_HIDDEN_DETAILS:
                continue
            text = ", ".join(map(str, value)) if isinstance(value, list) else value
            parts.append(f"{key}: {text}")
        event.summary = "; ".join(parts)
    return rows


# --- sign in, projects --------------------------------------------------------------------------------
def home(request: HttpRequest) -> HttpResponse:
    """The site root answers 200 itself (XNAT clients follow its redirects, xnat-rest-api.md §1.11)."""
    if not request.user.is_authenticated:
        return LoginView.as_view(template_name="registration/login.html")(request)
    return project_list(request)


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = list(queries.project_listing(request.user))
    readable = set(permissions.projects_for(request.user, "read").values_list("pk", flat=True))
    for project in projects:
        project.readable = project.pk in readable
    return render(request, "archive/project_list.html", {"projects": projects})


@login_required
def project_create(request: HttpRequest) -> HttpResponse:
    form = forms.ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = services.create_project(data.pop("project_id"), by=request.user, **data)
        except XnatliteError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Project {project.id} created; you are its owner.")
            return redirect("project-detail", project_id=project.id)
    return render(request, "archive/project_create.html", {"form": form})


@page
def project_detail(request: HttpRequest, project_id: str) -> HttpResponse:
    """The project page: its sessions, searchable by label, accession ID, date and modality."""
    project = permissions.get_project(request.user, project_id, "see")
    context = project_context(request, project, "sessions")
    context["role"] = permissions.role_of(request.user, project)
    if context["can_read"]:
        filters = forms.SessionFilterForm(request.GET, queries.project_modalities(project))
        search = filters.cleaned_data if filters.is_valid() else {}
        sort = request.GET.get("sort", "-date")
        sessions = queries.session_listing(
            project,
            search=search.get("q", ""),
            modality=search.get("modality", ""),
            date_from=search.get("date_from"),
            date_to=search.get("date_to"),
            sort=sort,
        )
        context.update(filters=filters, sort=sort, page=paginate(request, sessions))
    return render(request, "archive/project_detail.html", context)


@page
def subject_list(request: HttpRequest, project_id: str) -> HttpResponse:
    project = readable_project(request, project_id)
    filters = forms.SubjectFilterForm(request.GET)
    search = filters.cleaned_data.get("q", "") if filters.is_valid() else ""
    sort = request.GET.get("sort", "label")
    subjects = queries.subject_listing(project, search=search, sort=sort)
    context = project_context(request, project, "subjects")
    context.update(filters=filters, sort=sort, page=paginate(request, subjects))
    return render(request, "archive/subject_list.html", context)


# --- subjects, sessions, scans ------------------------------------------------------------------------
def _edit_form(request: HttpRequest, obj, form_class, update: Callable, what: str):
    """(form, saved): the object's edit form; a POST needs `edit` and saves via archive/editing.py."""
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
    found = services.find_subject(project, subject)
    if found is None:
        raise NotFound(f"No subject '{subject}' in project {project.id}")
    found.project = project
    form, saved = _edit_form(
        request, found, forms.SubjectEditForm, editing.update_subject, f"Subject {found.label}"
    )
    if saved:
        return redirect("subject-detail", project_id=project.id, subject=found.label)
    context = project_context(request, project, "subjects")
    sessions = queries.session_listing(project, subject=found, sort=request.GET.get("sort", "-date"))
    context.update(
        subject=found,
        form=form,
        sessions=sessions,
        sort=request.GET.get("sort", "-date"),
        history=history_rows(queries.subject_history(found)),
    )
    return render(request, "archive/subject_detail.html", context)


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
    form, saved = _edit_form(
        request, found, forms.SessionEditForm, editing.update_session, f"Session {found.label}"
    )
    if saved:
        return redirect("session-detail", project_id=project.id, session=found.label)
    context = project_context(request, project, "sessions")
    context.update(
        session=found,
        form=form,
        scans=_with_previews(queries.session_scans(found)),
        resources=queries.session_resources(found),
        history=history_rows(queries.session_history(found)),
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
                    editing.update_scan(scan, by=request.user, **fields)
    except InvalidInput as exc:
        messages.error(request, f"Nothing was saved: {exc.message}")
    else:
        messages.success(request, "Scans saved.")
    return redirect("session-detail", project_id=project.id, session=found.label)


@page
def scan_detail(request: HttpRequest, project_id: str, session: str, scan_id: str) -> HttpResponse:
    """A scan: its fields, resources and files, and the DICOM header of a chosen file."""
    project, found = _session(request, project_id, session)
    scan = Scan.objects.filter(session=found, scan_id=scan_id).first()
    if scan is None:
        raise NotFound(f"No scan '{scan_id}' in session {found.label}")
    scan.session = found
    form, saved = _edit_form(request, scan, forms.ScanEditForm, editing.update_scan, f"Scan {scan.scan_id}")
    if saved:
        return redirect("scan-detail", project_id=project.id, session=found.label, scan_id=scan.scan_id)
    files = queries.scan_files(scan)
    chosen = _chosen_file(request, files)
    header, header_error = header_of(chosen.absolute_path, chosen.name) if chosen else ([], "")
    context = project_context(request, project, "sessions")
    context.update(
        session=found,
        scan=_with_previews(queries.session_scans(found).filter(pk=scan.pk))[0],
        form=form,
        resources=queries.scan_resources(scan),
        files=paginate(request, files, per_page=100),
        chosen=chosen,
        header=header,
        header_error=header_error,
        can_download=permissions.can(request.user, "download", project),
    )
    return render(request, "archive/scan_detail.html", context)


def header_of(path, name: str) -> tuple[list, str]:
    """(header rows, "") of a DICOM file, or ([], why not): a missing or unreadable file is shown."""
    try:
        return queries.dicom_header(path), ""
    except (OSError, ValueError, XnatliteError) as exc:
        return [], f"Cannot read {name}: {exc}"


def _chosen_file(request: HttpRequest, files) -> File | None:
    """The file named by `?file=<id>` among the scan's files, else its first DICOM file."""
    wanted = request.GET.get("file", "")
    if wanted.isdigit():
        return files.filter(pk=int(wanted)).first()
    return files.filter(resource__label="DICOM").first() or files.first()


@page
def file_download(request: HttpRequest, project_id: str, session: str, file_id: int) -> HttpResponse:
    """One file of the session (scan or session resource); images such as previews show inline."""
    project, found = _session(request, project_id, session)
    permissions.require(request.user, "download", project)
    file = (
        File.objects.filter(pk=file_id, resource__scan__session=found).first()
        or File.objects.filter(pk=file_id, resource__session=found).first()
    )
    if file is None:
        raise NotFound("No such file in this session")
    path = file.absolute_path
    if not path.is_file():
        log.error("file %s of session %s is missing on disk: %s", file.pk, found, path)
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


# --- project settings, users, history ------------------------------------------------------------------
@page
def project_settings(request: HttpRequest, project_id: str) -> HttpResponse:
    """Owners change titles, accessibility, the prearchive code and aliases."""
    project = permissions.get_project(request.user, project_id, "see")
    permissions.require(request.user, "manage", project)
    initial = {name: getattr(project, name) for name in forms.ProjectSettingsForm.base_fields}
    form = forms.ProjectSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_project(project, by=request.user, **form.cleaned_data)
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Settings of {project.id} saved.")
            return redirect("project-settings", project_id=project.id)
    context = project_context(request, project, "settings")
    context.update(form=form, alias_form=forms.AliasForm(), aliases=project.aliases.all())
    return render(request, "archive/project_settings.html", context)


@page
@require_POST
def project_alias(request: HttpRequest, project_id: str) -> HttpResponse:
    """Add (`alias`) or remove (`remove`) a project alias."""
    project = permissions.get_project(request.user, project_id, "see")
    try:
        if request.POST.get("remove"):
            services.remove_project_alias(project, request.POST["remove"], by=request.user)
            messages.success(request, f"Alias {request.POST['remove']} removed.")
        else:
            form = forms.AliasForm(request.POST)
            if not form.is_valid():
                raise InvalidInput("; ".join(e for errors in form.errors.values() for e in errors))
            services.add_project_alias(project, form.cleaned_data["alias"], by=request.user)
            messages.success(request, f"Alias {form.cleaned_data['alias']} added.")
    except (InvalidInput, NotFound) as exc:
        messages.error(request, exc.message)
    return redirect("project-settings", project_id=project.id)


@page
def project_history(request: HttpRequest, project_id: str) -> HttpResponse:
    """Everything that happened in the project, newest first (owners)."""
    project = permissions.get_project(request.user, project_id, "see")
    permissions.require(request.user, "manage", project)
    context = project_context(request, project, "history")
    context["page"] = paginate(request, queries.project_history(project), per_page=100)
    context["history"] = history_rows(context["page"])
    return render(request, "archive/project_history.html", context)


@page
def project_users(request: HttpRequest, project_id: str) -> HttpResponse:
    project = readable_project(request, project_id)
    can_manage = permissions.can(request.user, "manage", project)
    form = forms.ProjectUserForm(request.POST or None)
    if request.method == "POST":
        permissions.require(request.user, "manage", project)
        if form.is_valid():
            try:
                user = services.find_user(form.cleaned_data["user"])
                services.set_project_role(project, user, form.cleaned_data["role"], by=request.user)
            except (InvalidInput, NotFound) as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, f"{user.get_username()} is now {form.cleaned_data['role']} of {project.id}."
                )
                return redirect("project-users", project_id=project.id)
    context = project_context(request, project, "users")
    context.update(can_manage=can_manage, users=queries.project_users(project), form=form)
    context["role_form"] = forms.RoleChangeForm()
    return render(request, "archive/project_users.html", context)


@page
@require_POST
def project_user_change(request: HttpRequest, project_id: str, username: str) -> HttpResponse:
    project = readable_project(request, project_id)
    permissions.require(request.user, "manage", project)
    user = get_user_model().objects.filter(username=username).first()
    try:
        if user is None:
            raise NotFound(f"No user '{username}'")
        if request.POST.get("remove"):
            services.remove_project_user(project, user, by=request.user)
            messages.success(request, f"{username} no longer has a role in {project.id}.")
        else:
            form = forms.RoleChangeForm(request.POST)
            if not form.is_valid():
                raise InvalidInput("Unknown role")
            services.set_project_role(project, user, form.cleaned_data["role"], by=request.user)
            messages.success(request, f"{username} is now {form.cleaned_data['role']} of {project.id}.")
    except (InvalidInput, NotFound) as exc:
        messages.error(request, exc.message)
    return redirect("project-users", project_id=project.id)
