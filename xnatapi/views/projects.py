"""Projects over REST: the listing, one project (xnat-rest-api.md §4.1), and its settings (xnat-spec.md
§1.2, §2.1): accessibility, prearchive code and users, as pyxnat's `project.set_accessibility`,
`add_user`, `users()` call them. Owners change them; xnatlite/projects.py checks and audits every
change."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from archive import queries
from prearchive import projects as project_services
from xnatapi import documents as docs
from xnatapi import fields, lookups, render
from xnatapi.http import Endpoint, api_view, created, method_not_allowed, params, text
from xnatlite import permissions, projects
from xnatlite.errors import InvalidInput, NotFound
from xnatlite.models import Role

# XNAT's group display names, as clients send and read them.
GROUPS = {Role.OWNER: "Owners", Role.MEMBER: "Members", Role.COLLABORATOR: "Collaborators"}
ROLES = {name.lower(): role for role, name in GROUPS.items()} | {role.value: role for role in GROUPS}


class ProjectList(Endpoint):
    """`/data/projects`: every project the user may see."""

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = docs.project_rows(permissions.projects_for(request.user, "see"))
        return render.listing(
            request,
            rows,
            columns=docs.PROJECT_COLUMNS,
            extra=docs.PROJECT_EXTRA,
            title="projects",
            always=docs.ALWAYS,
        )


class ProjectDetail(Endpoint):
    """`/data/projects/{P}`: one project; PUT creates it (201) or changes its name, description and
    keywords; projects are not deleted through the API."""

    def get(self, request: HttpRequest, project: str) -> HttpResponse:
        found = lookups.get_project(request.user, project)
        return render.item_response(request, "xnat:projectData", docs.project_fields(found))

    def put(self, request: HttpRequest, project: str) -> HttpResponse:
        values = params(request)
        if not lookups.project_exists(project):
            new = projects.create_project(
                project,
                by=request.user,
                name=values.get("name") or values.get("xnat:projectData/name") or project,
                description=values.get("description") or values.get("xnat:projectData/description", ""),
            )
            return created(new.id, True)
        found = lookups.get_project(request.user, project)
        changes = {key: value for key, value in values.items() if key in fields.PROJECT_FIELDS}
        if changes:
            projects.update_project(found, by=request.user, **changes)
        return created(found.id, False)

    post = put

    def delete(self, request: HttpRequest, project: str) -> HttpResponse:
        """Owners delete a project with everything in it, as XNAT lets them (prearchive/projects.py)."""
        project_services.delete_project(lookups.get_project(request.user, project), by=request.user)
        return text("")


def _setting(request: HttpRequest, project: str, field: str, value: str) -> HttpResponse:
    found = permissions.get_project(request.user, project, "see")
    if request.method in ("GET", "HEAD"):
        return text(str(getattr(found, field)))
    if request.method not in ("PUT", "POST"):
        return method_not_allowed(request)
    if not value:
        raise InvalidInput(f"Give the new value: .../{field}/{{value}}")
    projects.update_project(found, by=request.user, **{field: value})
    return text(str(getattr(found, field)))


@api_view
def accessibility(request: HttpRequest, project: str, value: str = "") -> HttpResponse:
    """`GET .../accessibility`; `PUT .../accessibility/{private|protected|public}` (owners)."""
    return _setting(request, project, "accessibility", value)


@api_view
def prearchive_code(request: HttpRequest, project: str, value: str = "") -> HttpResponse:
    """`GET .../prearchive_code`; `PUT .../prearchive_code/{0|4|5}` (owners)."""
    return _setting(request, project, "prearchive_code", value)


@api_view
def users(request: HttpRequest, project: str) -> HttpResponse:
    """`GET /data/projects/{P}/users`: who has which role (readers of the project may list them; the
    e-mail addresses only its owners and site admins, who manage its users)."""
    found = permissions.get_project(request.user, project, "read")
    show_email = permissions.can(request.user, "manage", found)
    rows = (
        {
            "login": user.get_username(),
            "displayname": GROUPS[role],
            "GROUP_ID": permissions.role_group_name(found.id, role),
            "firstname": user.first_name,
            "lastname": user.last_name,
            "email": user.email if show_email else "",
        }
        for user, role in queries.project_users(found)
    )
    columns = ["login", "displayname", "GROUP_ID", "firstname", "lastname", "email"]
    return render.listing(request, rows, columns=columns, title="users", fixed=True)


@api_view
def user_role(request: HttpRequest, project: str, group: str, username: str) -> HttpResponse:
    """`PUT/DELETE /data/projects/{P}/users/{Owners|Members|Collaborators}/{login}` (owners). Whether
    the account exists is looked at only for owners: anyone else gets the same answer for any name."""
    found = permissions.get_project(request.user, project, "manage")
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
