"""Sign in, the project list, a project's page and subjects, its settings, users and history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat, pluralize
from django.views.decorators.http import require_POST

from archive import forms, queries
from archive.events import EVENT_KINDS
from archive.views.common import history_rows, page, paginate, project_context, readable_project
from prearchive import projects as project_services
from prearchive import queries as prearchive_queries
from xnatlite import permissions, projects
from xnatlite.errors import InvalidInput, InvalidStatus, NotFound, XnatliteError
from xnatlite.models import Project


def home(request: HttpRequest) -> HttpResponse:
    """The site root answers 200 itself (XNAT clients follow its redirects, xnat-rest-api.md §1.11)."""
    if not request.user.is_authenticated:
        return LoginView.as_view(template_name="registration/login.html")(request)
    return project_list(request)


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    """The projects the user may see: searchable, sortable by each column, with the user's role and
    the sessions waiting in the prearchive of those they may use (a constant number of queries)."""
    search = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "id")
    listing = list(queries.project_listing(request.user, search=search))
    readable = set(permissions.projects_for(request.user, "read").values_list("pk", flat=True))
    roles = permissions.project_roles(request.user)
    waiting = dict(
        prearchive_queries.prearchive_listing(request.user)
        .filter(project__isnull=False)
        .order_by()
        .values_list("project")
        .annotate(n=Count("pk"))
    )
    usable = set(permissions.projects_for(request.user, "prearchive").values_list("pk", flat=True))
    for project in listing:
        project.readable = project.pk in readable
        project.role = roles.get(project.pk)
        project.waiting = waiting.get(project.pk, 0) if project.pk in usable else None
    context = {
        "projects": _sorted_projects(listing, sort),
        "search": search,
        "sort": sort if sort.lstrip("-") in PROJECT_SORTS else "id",
        "may_create": permissions.may_create_project(request.user),
        "waiting_requests": (
            projects.project_requests(request.user, pending_only=True).count()
            if permissions.is_site_admin(request.user)
            else 0
        ),
    }
    return render(request, "archive/project_list.html", context)


# Columns of the project list; counts of projects the user may not read sort as empty, so the order
# tells nothing about them.
PROJECT_SORTS: dict[str, Callable[[Project], Any]] = {
    "id": lambda p: p.pk.lower(),
    "title": lambda p: p.title.lower(),
    "role": lambda p: p.role.label if p.role else None,
    "subjects": lambda p: p.subject_count if p.readable else None,
    "sessions": lambda p: p.session_count if p.readable else None,
    "last": lambda p: p.last_activity if p.readable else None,
    "waiting": lambda p: p.waiting,
}


def _sorted_projects(listing: list[Project], sort: str) -> list[Project]:
    key = PROJECT_SORTS.get(sort.lstrip("-"), PROJECT_SORTS["id"])
    present = [p for p in listing if key(p) is not None]
    present.sort(key=key, reverse=sort.startswith("-"))
    return present + [p for p in listing if key(p) is None]  # empty values last, either way


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """The header's search box: projects, subjects and sessions the user may read."""
    text = request.GET.get("q", "").strip()
    results = queries.search(request.user, text)
    return render(
        request, "archive/search.html", {"q": text, "results": results, "limit": queries.SEARCH_LIMIT}
    )


@login_required
def project_create(request: HttpRequest) -> HttpResponse:
    """New project: created at once by those who may (site admins; everyone with
    XNATLITE_PROJECT_CREATION=everyone), else requested from the site admins."""
    if not permissions.may_create_project(request.user):
        return _project_request(request)
    form = forms.ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = projects.create_project(data.pop("project_id"), by=request.user, **data)
        except XnatliteError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Project {project.id} created; you are its owner.")
            return redirect("project-detail", project_id=project.id)
    return render(request, "archive/project_create.html", {"form": form})


def _project_request(request: HttpRequest) -> HttpResponse:
    form = forms.ProjectRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            asked = projects.request_project(data.pop("project_id"), by=request.user, **data)
        except XnatliteError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, f"Project {asked.requested_id} is requested; a site administrator will decide."
            )
            return redirect("project-create")
    requests = projects.project_requests(request.user)[:50]
    return render(request, "archive/project_request.html", {"form": form, "requests": requests})


@page
def project_requests(request: HttpRequest) -> HttpResponse:
    """Site admins approve (the project is created, the requester its owner) or refuse requests."""
    permissions.require_site_admin(request.user)
    if request.method == "POST":
        form = forms.ProjectRequestDecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a request and approve or refuse it.")
            return redirect("project-requests")
        data = form.cleaned_data
        asked = projects.project_requests(request.user).filter(pk=data["request"]).first()
        if asked is None:
            raise NotFound("No such project request")
        try:
            if data["action"] == "approve":
                project = projects.approve_project_request(asked, by=request.user)
                messages.success(
                    request,
                    f"Project {project.id} created; {asked.requested_by.get_username()} is its owner.",
                )
            else:
                projects.refuse_project_request(asked, by=request.user, note=data["note"])
                messages.success(request, f"The request for {asked.requested_id} is refused.")
        except XnatliteError as exc:
            messages.error(request, f"{asked.requested_id}: {exc.message}")
        return redirect("project-requests")
    rows = projects.project_requests(request.user)
    pending = list(rows.filter(status="pending"))
    for asked in pending:  # what approving would start catching, for the admin to weigh
        asked.names_waiting_data = prearchive_queries.unassigned_data_answers_to(asked.requested_id)
    context = {
        "pending": pending,
        "decided": list(rows.exclude(status="pending")[:50]),
    }
    return render(request, "archive/project_requests.html", context)


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
            projects.update_project(project, by=request.user, **form.cleaned_data)
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Settings of {project.id} saved.")
            return redirect("project-settings", project_id=project.id)
    context = project_context(request, project, "settings")
    context.update(form=form, alias_form=forms.AliasForm(), aliases=project.aliases.all())
    return render(request, "archive/project_settings.html", context)


@page
def project_delete(request: HttpRequest, project_id: str) -> HttpResponse:
    """GET: what deleting the project removes (counts of subjects, sessions, files, prearchive
    sessions) and one button. POST: delete it all (owners), then the project list says what went."""
    project = permissions.get_project(request.user, project_id, "see")
    permissions.require(request.user, "manage", project)
    if request.method == "POST":
        try:
            gone = project_services.delete_project(project, by=request.user)
        except InvalidStatus as exc:
            messages.error(request, exc.message)
            return redirect("project-delete", project_id=project.id)
        messages.success(request, f"Project {project_id} deleted: {_contents_summary(gone)}.")
        return redirect("project-list")
    context = project_context(request, project, "settings")
    contents = project_services.project_contents(project)
    context.update(contents=contents, summary=_contents_summary(contents))
    return render(request, "archive/project_delete.html", context)


def _contents_summary(c: project_services.ProjectContents) -> str:
    """'2 subjects, 3 sessions, 7 scans, 40 files (12.0 MB), 1 prearchive session (5 files)'."""
    return (
        f"{c.subjects} subject{pluralize(c.subjects)}, {c.sessions} session{pluralize(c.sessions)}, "
        f"{c.scans} scan{pluralize(c.scans)}, {c.files} file{pluralize(c.files)} ({filesizeformat(c.size)}), "
        f"{c.prearchive_sessions} prearchive session{pluralize(c.prearchive_sessions)} "
        f"({c.prearchive_files} file{pluralize(c.prearchive_files)})"
    )


@page
@require_POST
def project_alias(request: HttpRequest, project_id: str) -> HttpResponse:
    """Add (`alias`) or remove (`remove`) a project alias."""
    project = permissions.get_project(request.user, project_id, "see")
    try:
        if request.POST.get("remove"):
            projects.remove_project_alias(project, request.POST["remove"], by=request.user)
            messages.success(request, f"Alias {request.POST['remove']} removed.")
        else:
            form = forms.AliasForm(request.POST)
            if not form.is_valid():
                raise InvalidInput("; ".join(e for errors in form.errors.values() for e in errors))
            projects.add_project_alias(project, form.cleaned_data["alias"], by=request.user)
            messages.success(request, f"Alias {form.cleaned_data['alias']} added.")
    except (InvalidInput, NotFound) as exc:
        messages.error(request, exc.message)
    return redirect("project-settings", project_id=project.id)


@page
def project_history(request: HttpRequest, project_id: str) -> HttpResponse:
    """Everything that happened in the project, newest first (owners)."""
    project = permissions.get_project(request.user, project_id, "see")
    permissions.require(request.user, "manage", project)
    kind, actor = request.GET.get("kind", ""), request.GET.get("user", "")
    context = project_context(request, project, "history")
    context["page"] = paginate(
        request, queries.project_history(project, kind=kind, actor=actor), per_page=100
    )
    context["history"] = history_rows(context["page"])
    context.update(
        kinds=[(key, label) for key, (label, _) in EVENT_KINDS.items()],
        actors=queries.history_actors(project),
        kind=kind,
        actor=actor,
    )
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
                user = projects.find_user(form.cleaned_data["user"])
                projects.set_project_role(project, user, form.cleaned_data["role"], by=request.user)
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
            projects.remove_project_user(project, user, by=request.user)
            messages.success(request, f"{username} no longer has a role in {project.id}.")
        else:
            form = forms.RoleChangeForm(request.POST)
            if not form.is_valid():
                raise InvalidInput("Unknown role")
            projects.set_project_role(project, user, form.cleaned_data["role"], by=request.user)
            messages.success(request, f"{username} is now {form.cleaned_data['role']} of {project.id}.")
    except (InvalidInput, NotFound) as exc:
        messages.error(request, exc.message)
    return redirect("project-users", project_id=project.id)
