"""Every write to projects and their users: create a project with its role groups, change its
settings and aliases, give and take roles. Each checks permission and audits (xnat-spec.md §1.2, §2).
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import models, transaction
from django.db.models import QuerySet
from guardian.shortcuts import assign_perm

from xnatlite import audit, layout, permissions
from xnatlite.errors import Forbidden, InvalidInput, NotFound
from xnatlite.models import Accessibility, PrearchiveCode, Project, ProjectAlias, Role

log = logging.getLogger(__name__)

PROJECT_TEXT_FIELDS = ("secondary_id", "name", "description", "keywords", "pi")


# --- projects -------------------------------------------------------------------------------------
def _check_project_id_free(project_id: str, *, exclude: Project | None = None) -> None:
    """Project IDs and aliases share one namespace, compared without case (they become folders)."""
    projects = Project.objects.filter(pk__iexact=project_id)
    aliases = ProjectAlias.objects.filter(alias__iexact=project_id)
    if exclude is not None:
        projects = projects.exclude(pk=exclude.pk)
        aliases = aliases.exclude(project=exclude)
    if projects.exists() or aliases.exists():
        raise InvalidInput(f"Project ID or alias '{project_id}' is already in use")


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
    by: User,
    name: str = "",
    secondary_id: str = "",
    description: str = "",
    keywords: str = "",
    pi: str = "",
    accessibility: str = Accessibility.PRIVATE,
    prearchive_code: int = PrearchiveCode.MANUAL,
    aliases: list[str] | tuple[str, ...] = (),
) -> Project:
    """Create a project with its three role groups; the creator becomes its owner."""
    if by is None or not by.is_authenticated:
        raise Forbidden("Sign in to create a project")
    layout.check_label(project_id, "Project ID")
    _check_project_id_free(project_id)
    project = Project.objects.create(
        id=project_id,
        name=name or project_id,
        secondary_id=secondary_id,
        description=description,
        keywords=keywords,
        pi=pi,
        accessibility=_check_choice(accessibility, Accessibility, "Accessibility"),
        prearchive_code=_check_choice(int(prearchive_code), PrearchiveCode, "Prearchive code"),
        created_by=by,
    )
    for role, perms in permissions.ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=permissions.role_group_name(project.id, role))
        for perm in perms:
            assign_perm(perm, group, project)
    for alias in aliases:
        add_project_alias(project, alias, by=by, _checked=True)
    _set_role(project, by, Role.OWNER)
    audit.record(by, "archive.project.created", project, name=project.name)
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
def add_project_alias(project: Project, alias: str, *, by: User, _checked: bool = False) -> ProjectAlias:
    """Give a project another ID that routing and the REST API accept."""
    if not _checked:
        permissions.require(by, "manage", project)
    layout.check_label(alias, "Project alias")
    _check_project_id_free(alias)
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
