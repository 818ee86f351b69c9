"""Project pages: thin views that parse the request, call one service and show the result."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from archive import forms, permissions, queries, services
from archive.models import ImageSession, Subject
from xnatlite.errors import Forbidden, NotFound, XnatliteError


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


def _project_or_404(request: HttpRequest, project_id: str, action: str):
    try:
        return permissions.get_project(request.user, project_id, action)
    except NotFound:
        raise Http404("Project not found") from None


@login_required
def project_detail(request: HttpRequest, project_id: str) -> HttpResponse:
    project = _project_or_404(request, project_id, "see")
    can_read = permissions.can(request.user, "read", project)
    context = {
        "project": project,
        "can_read": can_read,
        "can_manage": permissions.can(request.user, "manage", project),
        "role": permissions.role_of(request.user, project),
        "subjects": Subject.objects.filter(project=project).order_by("label")[:200] if can_read else [],
        "sessions": (
            ImageSession.objects.filter(project=project)
            .select_related("subject")
            .order_by("-date", "label")[:200]
            if can_read
            else []
        ),
    }
    return render(request, "archive/project_detail.html", context)


@login_required
def project_users(request: HttpRequest, project_id: str) -> HttpResponse:
    project = _project_or_404(request, project_id, "read")
    can_manage = permissions.can(request.user, "manage", project)
    form = forms.ProjectUserForm(request.POST or None)
    if request.method == "POST":
        if not can_manage:
            return HttpResponse(
                "You may not manage this project's users.", status=403, content_type="text/plain"
            )
        if form.is_valid():
            try:
                user = services.find_user(form.cleaned_data["user"])
                services.set_project_role(project, user, form.cleaned_data["role"], by=request.user)
            except XnatliteError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, f"{user.get_username()} is now {form.cleaned_data['role']} of {project.id}."
                )
                return redirect("project-users", project_id=project.id)
    context = {
        "project": project,
        "can_manage": can_manage,
        "users": queries.project_users(project),
        "form": form,
        "role_form": forms.RoleChangeForm(),
    }
    return render(request, "archive/project_users.html", context)


@login_required
@require_POST
def project_user_change(request: HttpRequest, project_id: str, username: str) -> HttpResponse:
    project = _project_or_404(request, project_id, "read")
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
                raise NotFound("Unknown role")
            services.set_project_role(project, user, form.cleaned_data["role"], by=request.user)
            messages.success(request, f"{username} is now {form.cleaned_data['role']} of {project.id}.")
    except Forbidden as exc:
        return HttpResponse(exc.message, status=403, content_type="text/plain")
    except XnatliteError as exc:
        messages.error(request, exc.message)
    return redirect("project-users", project_id=project.id)
