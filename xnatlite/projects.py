"""Every write to projects and their users: create a project with its role groups (or request one,
and approve or refuse requests), change its settings and aliases, give and take roles. Each checks
permission and audits (xnat-spec.md §1.2, §2).

Whoever names a project decides where scanner data goes: routing sends data to the project whose ID or
alias its Study Description (or Accession Number, or `Project:`) names. So (issue 14) only site admins
create projects unless XNATLITE_PROJECT_CREATION=everyone (others request one), and an ID or alias
that data already waiting in Unassigned would route to needs a site admin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from guardian.shortcuts import assign_perm

from xnatlite import audit, layout, permissions
from xnatlite.errors import Forbidden, InvalidInput, NotFound
from xnatlite.models import Accessibility, PrearchiveCode, Project, ProjectAlias, ProjectRequest, Role

log = logging.getLogger(__name__)

PROJECT_TEXT_FIELDS = ("secondary_id", "name", "description", "keywords", "pi")


# --- projects -------------------------------------------------------------------------------------
# Words a project ID or alias may not be, compared without case: `Unassigned` names the prearchive
# of data without a project (xnat-spec.md §3.6: a project of that name would share its URLs and
# lose its own prearchive), and the others are fixed words of the UI's and the API's URLs
# (xnatlite/urls.py, */urls.py, xnatapi/urls.py), where a project of that name would be shadowed or
# confused (`/projects/new/`, `/prearchive/Unassigned/...`, `/data/archive/projects/...`). Only new
# IDs and aliases are checked: rows that exist are left as they are.
RESERVED_PROJECT_IDS = frozenset(
    word.lower()
    for word in (
        "Unassigned",
        # the UI's top-level words, and those under /projects/
        "projects", "new", "requests", "prearchive", "upload", "anonymization", "admin", "static",
        "login", "logout", "password", "actions", "site",
        # the XNAT API's words (/data, /REST, /xapi and what follows them)
        "data", "REST", "xapi", "archive", "services", "subjects", "experiments", "sessions", "scans",
        "resources", "files", "users", "config",
    )
)  # fmt: skip


def check_project_id(project_id: str, what: str = "Project ID") -> str:
    """A new project ID or alias: label characters, not a reserved word, not taken by a project ID or
    alias (one namespace, compared without case: they become folders). The one place they are checked."""
    layout.check_label(project_id, what)
    if project_id.lower() in RESERVED_PROJECT_IDS:
        raise InvalidInput(
            f"{what} '{project_id}' is a reserved word of xnatlite's addresses; choose another"
        )
    if (
        Project.objects.filter(pk__iexact=project_id).exists()
        or ProjectAlias.objects.filter(alias__iexact=project_id).exists()
    ):
        raise InvalidInput(f"Project ID or alias '{project_id}' is already in use")
    return project_id


# Which names data already waiting in Unassigned would be routed by. The kernel imports no app: the
# prearchive registers its check when Django starts (prearchive/apps.py).
_waiting_data_checks: list[Callable[[str], bool]] = []


def register_waiting_data_check(check: Callable[[str], bool]) -> None:
    """`check(name)` says whether data waiting in Unassigned would route to a project of that name."""
    if check not in _waiting_data_checks:
        _waiting_data_checks.append(check)


def _check_waiting_data(name: str, what: str, by: User | permissions.SystemActor) -> None:
    """A new project ID or alias that data waiting in Unassigned would route to needs a site admin: it
    would capture that study's next instances (issue 14)."""
    if permissions.may_claim_waiting_data(by):
        return
    if any(check(name) for check in _waiting_data_checks):
        log.warning("%s '%s' refused to %s: it names data waiting in Unassigned", what, name, by)
        raise Forbidden(
            f"{what} '{name}' names data that is waiting in the Unassigned prearchive; only a site "
            "administrator may give it to a project"
        )


Choice = TypeVar("Choice", bound=models.Choices)


def _check_choice(value: Any, choices: type[Choice], what: str) -> Choice:
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(str(c) for c in choices.values)
        raise InvalidInput(f"{what} must be one of {allowed}, not '{value}'") from None


@transaction.atomic
def create_project(
    project_id: str,
    *,
    by: User | permissions.SystemActor,
    name: str = "",
    secondary_id: str = "",
    description: str = "",
    keywords: str = "",
    pi: str = "",
    accessibility: str = Accessibility.PRIVATE,
    prearchive_code: int = PrearchiveCode.MANUAL,
    aliases: list[str] | tuple[str, ...] = (),
    owner: User | None = None,
) -> Project:
    """Create a project with its three role groups; `owner` (default: the creator) becomes its owner.

    Site admins (and commands they run) may always; anyone else signed in only with
    XNATLITE_PROJECT_CREATION=everyone (otherwise Forbidden: they `request_project`)."""
    if by is None or (not isinstance(by, permissions.SystemActor) and not by.is_authenticated):
        raise Forbidden("Sign in to create a project")
    if not permissions.may_create_project(by):
        raise Forbidden(
            "Only site administrators create projects on this site: request one, and an administrator "
            "will create it for you (New project)"
        )
    owner_account = owner if owner is not None else by
    if not isinstance(owner_account, User):
        raise InvalidInput("Name the account that will own the project")
    check_project_id(project_id, "Project ID")
    _check_waiting_data(project_id, "Project ID", by)
    project = Project.objects.create(
        id=project_id,
        name=name or project_id,
        secondary_id=secondary_id,
        description=description,
        keywords=keywords,
        pi=pi,
        accessibility=_check_choice(accessibility, Accessibility, "Accessibility"),
        prearchive_code=_check_choice(int(prearchive_code), PrearchiveCode, "Prearchive code"),
        created_by=owner_account,
    )
    for role, perms in permissions.ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=permissions.role_group_name(project.id, role))
        for perm in perms:
            assign_perm(perm, group, project)
    for alias in aliases:
        add_project_alias(project, alias, by=by, _checked=True)
    _set_role(project, owner_account, Role.OWNER)
    details = {} if owner_account is by else {"owner": owner_account.get_username()}
    audit.record(by, "archive.project.created", project, name=project.name, **details)
    return project


@transaction.atomic
def update_project(project: Project, *, by: User, **fields: Any) -> Project:
    """Change a project's titles, description, accessibility or prearchive code (owners)."""
    permissions.require(by, "manage", project)
    changed = {}
    for field, value in fields.items():
        if field in PROJECT_TEXT_FIELDS:
            value = str(value or "").strip()
        elif field == "accessibility":
            value = _check_choice(value, Accessibility, "Accessibility")
        elif field == "prearchive_code":
            try:
                value = _check_choice(int(value), PrearchiveCode, "Prearchive code")
            except (TypeError, ValueError):
                raise InvalidInput(f"Prearchive code must be one of 0, 4, 5, not '{value}'") from None
        else:
            raise InvalidInput(f"Project field '{field}' cannot be changed")
        if getattr(project, field) != value:
            changed[field] = value
            setattr(project, field, value)
    if changed:
        project.save(update_fields=[*changed, "updated_at"])
        audit.record(by, "archive.project.updated", project, **changed)
    return project


@transaction.atomic
def add_project_alias(
    project: Project, alias: str, *, by: User | permissions.SystemActor, _checked: bool = False
) -> ProjectAlias:
    """Give a project another ID that routing and the REST API accept."""
    if not _checked:
        permissions.require(by, "manage", project)
    check_project_id(alias, "Project alias")
    _check_waiting_data(alias, "Project alias", by)
    created = ProjectAlias.objects.create(project=project, alias=alias)
    audit.record(by, "archive.project.alias_added", project, alias=alias)
    return created


@transaction.atomic
def remove_project_alias(project: Project, alias: str, *, by: User) -> None:
    permissions.require(by, "manage", project)
    deleted, _ = ProjectAlias.objects.filter(project=project, alias=alias).delete()
    if not deleted:
        raise NotFound(f"Project {project.id} has no alias '{alias}'")
    audit.record(by, "archive.project.alias_removed", project, alias=alias)


# --- project requests -----------------------------------------------------------------------------
@transaction.atomic
def request_project(
    project_id: str, *, by: User, name: str = "", description: str = "", reason: str = ""
) -> ProjectRequest:
    """Ask the site admins for a project (when only they create projects); its ID is checked now."""
    if by is None or not by.is_authenticated or not by.is_active:
        raise Forbidden("Sign in to request a project")
    check_project_id(project_id, "Project ID")
    if ProjectRequest.objects.filter(
        requested_id__iexact=project_id, status=ProjectRequest.Status.PENDING
    ).exists():
        raise InvalidInput(f"Project '{project_id}' is already requested and waits for an administrator")
    request = ProjectRequest.objects.create(
        requested_id=project_id,
        name=str(name or "").strip()[:255] or project_id,
        description=str(description or "").strip(),
        reason=str(reason or "").strip(),
        requested_by=by,
    )
    audit.record(by, "archive.project.requested", request, project_id=project_id, name=request.name)
    return request


def _pending(request: ProjectRequest) -> ProjectRequest:
    locked = ProjectRequest.objects.select_for_update().get(pk=request.pk)
    if locked.status != ProjectRequest.Status.PENDING:
        raise InvalidInput(f"The request for project '{locked.requested_id}' was already {locked.status}")
    return locked


@transaction.atomic
def approve_project_request(request: ProjectRequest, *, by: User) -> Project:
    """Create the requested project with the requester as its owner (site admins)."""
    permissions.require_site_admin(by)
    request = _pending(request)
    project = create_project(
        request.requested_id,
        by=by,
        owner=request.requested_by,
        name=request.name,
        description=request.description,
    )
    request.status, request.project = ProjectRequest.Status.APPROVED, project
    request.decided_by, request.decided_at = by, timezone.now()
    request.save(update_fields=["status", "project", "decided_by", "decided_at"])
    audit.record(
        by,
        "archive.project.request_approved",
        request,
        project_id=project.id,
        requested_by=request.requested_by.get_username(),
    )
    return project


@transaction.atomic
def refuse_project_request(request: ProjectRequest, *, by: User, note: str = "") -> ProjectRequest:
    """Refuse a request, with a note the requester sees (site admins)."""
    permissions.require_site_admin(by)
    request = _pending(request)
    request.status, request.note = ProjectRequest.Status.REFUSED, str(note or "").strip()
    request.decided_by, request.decided_at = by, timezone.now()
    request.save(update_fields=["status", "note", "decided_by", "decided_at"])
    audit.record(
        by,
        "archive.project.request_refused",
        request,
        project_id=request.requested_id,
        requested_by=request.requested_by.get_username(),
    )
    return request


def project_requests(user: User, *, pending_only: bool = False) -> QuerySet[ProjectRequest]:
    """Requests a user may see: every one for site admins, their own for anyone else; newest first."""
    rows = ProjectRequest.objects.select_related("requested_by", "decided_by", "project")
    if not permissions.is_site_admin(user):
        rows = rows.filter(requested_by=user) if user.is_authenticated else rows.none()
    if pending_only:
        rows = rows.filter(status=ProjectRequest.Status.PENDING)
    return rows.order_by("-created_at", "-id")


# --- project users --------------------------------------------------------------------------------
def _set_role(project: Project, user: User, role: Role | None) -> None:
    groups = Group.objects.filter(name__in=[permissions.role_group_name(project.id, r) for r in Role.values])
    user.groups.remove(*groups)
    if role is not None:
        user.groups.add(Group.objects.get(name=permissions.role_group_name(project.id, role)))
    permissions.forget_cached_permissions(user)


def _owners(project: Project) -> QuerySet[User]:
    return get_user_model().objects.filter(groups__name=permissions.role_group_name(project.id, Role.OWNER))


def find_user(identifier: str) -> User:
    """An active account by username, or by e-mail address when that names exactly one account."""
    users = get_user_model().objects.filter(is_active=True)
    user = users.filter(username=identifier).first()
    if user is None and "@" in identifier:
        matches = list(users.filter(email__iexact=identifier)[:2])
        user = matches[0] if len(matches) == 1 else None
    if user is None:
        raise NotFound(f"No user '{identifier}'")
    return user


@transaction.atomic
def set_project_role(project: Project, user: User, role: str, *, by: User) -> None:
    """Give a user a role in the project, replacing any role they had (owners only)."""
    permissions.require(by, "manage", project)
    chosen = _check_choice(role, Role, "Role")
    previous = permissions.role_of(user, project)
    if previous == chosen:
        return
    if previous == Role.OWNER and _owners(project).count() == 1:
        raise InvalidInput(
            f"{user.get_username()} is the last owner of {project.id}; add another owner first"
        )
    _set_role(project, user, chosen)
    audit.record(
        by, "archive.project.role_set", project, user=user.get_username(), role=chosen, previous=previous
    )


@transaction.atomic
def remove_project_user(project: Project, user: User, *, by: User) -> None:
    """Take every role in the project away from a user (owners only; never the last owner)."""
    permissions.require(by, "manage", project)
    previous = permissions.role_of(user, project)
    if previous is None:
        raise NotFound(f"{user.get_username()} has no role in {project.id}")
    if previous == Role.OWNER and _owners(project).count() == 1:
        raise InvalidInput(
            f"{user.get_username()} is the last owner of {project.id}; add another owner first"
        )
    _set_role(project, user, None)
    audit.record(by, "archive.project.user_removed", project, user=user.get_username(), previous=previous)
