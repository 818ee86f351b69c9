"""Project settings over REST (xnat-spec.md §1.2, §2.1): accessibility, prearchive code and users,
as pyxnat's `project.set_accessibility`, `add_user`, `users()` call them. Owners change them;
xnatlite/projects.py checks and audits every change."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from archive import queries
from xnatapi import render
from xnatapi.http import api_view, method_not_allowed, text
from xnatlite import permissions, projects
from xnatlite.errors import InvalidInput, NotFound
from xnatlite.models import Role

# XNAT's group display names, as clients send and read them.
GROUPS = {Role.OWNER: "Owners", Role.MEMBER: "Members", Role.COLLABORATOR: "Collaborators"}
ROLES = {name.lower(): role for role, name in GROUPS.items()} | {role.value: role for role in GROUPS}


@api_view
def setting(request: HttpRequest, project: str, name: str, value: str = "") -> HttpResponse:
    """`GET .../accessibility` or `.../prearchive_code`; `PUT .../accessibility/{level}` (owners)."""
    found = permissions.get_project(request.user, project, "see")
    field = "accessibility" if name == "accessibility" else "prearchive_code"
    if request.method in ("GET", "HEAD"):
        return text(str(getattr(found, field)))
    if request.method not in ("PUT", "POST"):
        return method_not_allowed(request)
    if not value:
        raise InvalidInput(f"Give the new value: .../{name}/{{value}}")
    projects.update_project(found, by=request.user, **{field: value})
    return text(str(getattr(found, field)))


@api_view
def users(request: HttpRequest, project: str) -> HttpResponse:
    """`GET /data/projects/{P}/users`: who has which role (readers of the project may list them)."""
    found = permissions.get_project(request.user, project, "read")
    rows = (
        {
            "login": user.get_username(),
            "displayname": GROUPS[role],
            "GROUP_ID": permissions.role_group_name(found.id, role),
            "firstname": user.first_name,
            "lastname": user.last_name,
            "email": user.email,
        }
        for user, role in queries.project_users(found)
    )
    columns = ["login", "displayname", "GROUP_ID", "firstname", "lastname", "email"]
    return render.listing(request, rows, columns=columns, title="users", fixed=True)


@api_view
def user_role(request: HttpRequest, project: str, group: str, username: str) -> HttpResponse:
    """`PUT/DELETE /data/projects/{P}/users/{Owners|Members|Collaborators}/{login}` (owners)."""
    found = permissions.get_project(request.user, project, "see")
    role = ROLES.get(group.lower())
    if role is None:
        raise NotFound(f"No group '{group}'; use Owners, Members or Collaborators")
    user = projects.find_user(username)
    if request.method == "PUT":
        projects.set_project_role(found, user, role, by=request.user)
        return text("")
    if request.method == "DELETE":
        if permissions.role_of(user, found) != role:
            raise NotFound(f"{username} is not in {GROUPS[role]} of {found.id}")
        projects.remove_project_user(found, user, by=request.user)
        return text("")
    return method_not_allowed(request)
