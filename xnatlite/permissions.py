"""Who may do what: the one place that decides access (xnat-spec.md §2, DESIGN.md "Roles").

Roles are django-guardian object permissions on a Project, granted to three groups per project
(`{project}_owner`, `{project}_member`, `{project}_collaborator`). Actions:

    see         know the project exists: ID, title, description (listing)
    read        read its subjects, sessions, scans, resources and files; download them
    edit        create and modify subjects, sessions, scans and resources; upload; use the prearchive
    delete      delete archived data
    manage      change the project's settings, users and anonymization script; delete the project

Owners may do everything, members read and edit, collaborators read (xnat-spec.md §2.2). Protected
projects let everyone signed in *see* them, public ones let everyone signed in *read* them (code
behaviour, not the wiki's: §2.3). Site admins (superusers) may do everything, including the
Unassigned prearchive. Someone who may not see a project gets NotFound, exactly as if it did not exist.

Unassigned data (no project) is the site admins' (xnat-spec.md §3.6), and beyond XNAT also its
uploader's: an upload routed to a project the uploader may not use lands in their own Unassigned
space instead (issue 14), which they may see, read, download and use as a prearchive (delete, move
to a project of theirs, rebuild). Unassigned data says who uploaded it through its `uploader_id`
(None for what the DICOM receiver received).

Parts of xnatlite that act on their own (the receiver, the idle builder, auto-archive, recovery, a
command a site admin runs on the server) are `SystemActor`s: objects this module decides about like
anyone else (the actions each was given, in every project), never a string that skips the check.
Tasks carry an actor as a plain value (`actor_to_plain`, `actor_from_plain`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.models import User as Account
from django.db.models import Q, QuerySet
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import get_objects_for_user

from xnatlite.errors import Forbidden, NotFound
from xnatlite.models import Accessibility, Project, Role

ACTIONS = ("see", "read", "download", "create", "edit", "prearchive", "delete", "manage")


@dataclass(frozen=True)
class SystemActor:
    """A part of xnatlite acting on its own: `name` as the audit trail shows it, `actions` what it may
    do in any project (Unassigned included)."""

    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return self.name


# An account of the site (Django's user model), a visitor not signed in, or a part of xnatlite.
User = Account | AnonymousUser | SystemActor

INGEST_ACTIONS = frozenset({"prearchive"})  # write into a prearchive
ARCHIVE_ACTIONS = frozenset({"prearchive", "create", "edit"})  # archive: create subjects and sessions
AUTO_ARCHIVE = SystemActor("system:auto-archive", ARCHIVE_ACTIONS)
ARCHIVE_RECOVERY = SystemActor("system:archive-recovery", ARCHIVE_ACTIONS)
PREARCHIVE_BUILDER = SystemActor("system:prearchive-builder", INGEST_ACTIONS)


def receiver_actor(ae_title: str) -> SystemActor:
    """A DICOM receiver writing what it received into the prearchive."""
    return SystemActor(f"receiver:{ae_title}", INGEST_ACTIONS)


def ingest_actor(source: str) -> SystemActor:
    """Any other source of data with no person behind it."""
    return SystemActor(f"ingest:{source}", INGEST_ACTIONS)


def command_actor(name: str) -> SystemActor:
    """A management command, run on the server by whoever holds it (a site admin): every action."""
    return SystemActor(f"admin:{name}", frozenset(ACTIONS))


_KNOWN_ACTORS = {actor.name: actor for actor in (AUTO_ARCHIVE, ARCHIVE_RECOVERY, PREARCHIVE_BUILDER)}
_ACTOR_KINDS = {"receiver:": receiver_actor, "ingest:": ingest_actor, "admin:": command_actor}


def actor_to_plain(actor: User) -> int | str:
    """How a task argument or a journal names an actor: a user's id, or a system actor's name."""
    if isinstance(actor, SystemActor):
        return actor.name
    if actor.pk is None:
        raise ValueError("An anonymous visitor cannot act in a task")
    return int(actor.pk)


def actor_from_plain(value: int | str | None) -> User:
    """The actor `actor_to_plain` named. Nothing named is auto-archive (its tasks name no one); a user
    deleted since, or a name from an older version, acts as archive recovery."""
    if value is None or value == "":
        return AUTO_ARCHIVE
    if isinstance(value, int) or str(value).isdigit():
        user = get_user_model().objects.filter(pk=int(value)).first()
        return user if user is not None else ARCHIVE_RECOVERY
    if value in _KNOWN_ACTORS:
        return _KNOWN_ACTORS[value]
    for prefix, make in _ACTOR_KINDS.items():
        if value.startswith(prefix):
            return make(value[len(prefix) :])
    return ARCHIVE_RECOVERY


# The guardian permission (codename on Project) each action needs.
ACTION_PERMISSION = {
    "see": "read_data",
    "read": "read_data",
    "download": "read_data",
    "create": "edit_data",
    "edit": "edit_data",
    "prearchive": "edit_data",
    "delete": "delete_data",
    "manage": "manage_project",
}

# The permissions each role's group holds on its project (xnat-spec.md §2.2).
ROLE_PERMISSIONS = {
    Role.OWNER: ("read_data", "edit_data", "delete_data", "manage_project"),
    Role.MEMBER: ("read_data", "edit_data"),
    Role.COLLABORATOR: ("read_data",),
}

# What everyone signed in may do, by accessibility, without a role (xnat-spec.md §2.3).
ACCESSIBILITY_ACTIONS = {
    Accessibility.PRIVATE: frozenset(),
    Accessibility.PROTECTED: frozenset({"see"}),
    Accessibility.PUBLIC: frozenset({"see", "read", "download"}),
}


def role_group_name(project_id: str, role: str) -> str:
    return f"{project_id}_{role}"


def is_site_admin(user: User | None) -> bool:
    if isinstance(user, SystemActor):
        return False
    return bool(user and user.is_authenticated and user.is_active and user.is_superuser)


def project_of(obj: Any) -> Project | None:
    """The project an object belongs to; None for Unassigned prearchive data.

    Everything kept in a project says which through its `owning_project` property (subjects,
    sessions, scans, resources, files, prearchive sessions), so this module needs no other app.
    """
    if isinstance(obj, Project):
        return obj
    try:
        return obj.owning_project
    except AttributeError:
        raise TypeError(f"No project for {obj!r}") from None


def _checker(user: AbstractBaseUser) -> ObjectPermissionChecker:
    """One guardian checker per user object, so a request asks the database once per project."""
    checker = getattr(user, "_xnatlite_permission_checker", None)
    if checker is None:
        checker = ObjectPermissionChecker(user)
        user._xnatlite_permission_checker = checker  # type: ignore[attr-defined]
    return checker


def forget_cached_permissions(user: AbstractBaseUser) -> None:
    """Drop the cached checker after a role change, so the next check reads the database."""
    user.__dict__.pop("_xnatlite_permission_checker", None)


# What the uploader of Unassigned data may do with it (site admins may do everything).
UNASSIGNED_UPLOADER_ACTIONS = frozenset({"see", "read", "download", "prearchive"})


def _uploaded_it(user: AbstractBaseUser, obj: Any) -> bool:
    uploader = getattr(obj, "uploader_id", None)
    return uploader is not None and uploader == user.pk


def can(user: User | None, action: str, obj: Any) -> bool:
    """May this user do this action on this object (a project or anything in one)?"""
    if action not in ACTION_PERMISSION:
        raise ValueError(f"Unknown action {action!r}")
    if isinstance(user, SystemActor):
        project_of(obj)  # anything it acts on is in a project (or Unassigned)
        return action in user.actions
    if not isinstance(user, (AbstractBaseUser, AnonymousUser)) and user is not None:
        raise TypeError(f"Permissions are decided for users and system actors, not {user!r}")
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    project = project_of(obj)
    if project is None:  # Unassigned: site admins (§3.6) and its uploader
        return action in UNASSIGNED_UPLOADER_ACTIONS and _uploaded_it(user, obj)
    if action in ACCESSIBILITY_ACTIONS[Accessibility(project.accessibility)]:
        return True
    return _checker(user).has_perm(ACTION_PERMISSION[action], project)


def require(user: User | None, action: str, obj: Any) -> None:
    """Raise NotFound if the user may not even see the object's project, Forbidden if they may not act."""
    if can(user, action, obj):
        return
    project = project_of(obj)
    if project is None or not can(user, "see", project):
        raise NotFound("Not found")
    if not can(user, "read", project) and not isinstance(obj, Project):
        # A protected project's data is hidden, not refused: its existence is all that is shown.
        raise NotFound("Not found")
    raise Forbidden(f"You may not {action} in project {project.id}")


def role_of(user: User | None, project: Project) -> Role | None:
    """The user's role in the project, or None (site admins have no role unless given one)."""
    if user is None or isinstance(user, SystemActor) or not user.is_authenticated:
        return None
    names = {role_group_name(project.id, role): Role(role) for role in Role.values}
    for name in user.groups.filter(name__in=names).values_list("name", flat=True):
        return names[name]
    return None


def projects_for(user: User | None, action: str) -> QuerySet[Project]:
    """Every project on which the user may do the action, as a queryset to filter further."""
    if action not in ACTION_PERMISSION:
        raise ValueError(f"Unknown action {action!r}")
    if isinstance(user, SystemActor):
        return Project.objects.all() if action in user.actions else Project.objects.none()
    if user is None or not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    by_role = get_objects_for_user(
        user,
        f"xnatlite.{ACTION_PERMISSION[action]}",
        klass=Project,
        accept_global_perms=False,
        with_superuser=False,
    )
    open_levels = [level for level, actions in ACCESSIBILITY_ACTIONS.items() if action in actions]
    return Project.objects.filter(Q(pk__in=by_role.values("pk")) | Q(accessibility__in=open_levels))


def get_project(user: User | None, project_id: str, action: str = "see") -> Project:
    """The project named by ID or alias, if the user may do `action` on it; NotFound/Forbidden else."""
    project = (
        Project.objects.filter(Q(pk=project_id) | Q(aliases__alias=project_id)).distinct().first()
        if project_id
        else None
    )
    if project is None:
        raise NotFound(f"Project '{project_id}' not found")
    try:
        require(user, action, project)
    except NotFound:
        raise NotFound(f"Project '{project_id}' not found") from None
    return project


def acts_as_site_admin(user: User | None) -> bool:
    """A site admin, or a command a site admin runs on the server (a system actor that may manage)."""
    if isinstance(user, SystemActor):
        return "manage" in user.actions
    return is_site_admin(user)


def may_create_project(user: User | None) -> bool:
    """Whether the user may create a project outright: site admins always; every other signed-in
    account only with XNATLITE_PROJECT_CREATION=everyone (the default `admins`: they request one,
    since a project named like a Study Description captures the data routed to it, issue 14)."""
    if acts_as_site_admin(user):
        return True
    if isinstance(user, SystemActor) or user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(settings.PROJECT_CREATION == "everyone")


def may_claim_waiting_data(user: User | None) -> bool:
    """Whether the user may give a project an ID or alias that data already waiting in Unassigned
    would route to (its Study Description, Accession Number, `Project:` or label): site admins only,
    so nobody takes over a scanner's data by naming a project after it (issue 14)."""
    return acts_as_site_admin(user)


def require_site_admin(user: User | None) -> None:
    if not is_site_admin(user):
        raise Forbidden("Only site administrators may do this")


def project_roles(user: User | None) -> dict[str, Role]:
    """The user's role in each project they hold one in, by project ID (one query; none for site admins
    unless they were given one). The inverse of `role_group_name`."""
    if user is None or isinstance(user, SystemActor) or not user.is_authenticated:
        return {}
    roles = {}
    for name in user.groups.values_list("name", flat=True):
        project_id, _, role = name.rpartition("_")
        if project_id and role in Role.values:
            roles[project_id] = Role(role)
    return roles


def unassigned_scope(user: User | None) -> str:
    """Which Unassigned prearchive sessions the user may list: "all" (site admins, §3.6), "own" (any
    other signed-in account: those it uploaded) or "none" (visitors, system actors)."""
    if is_site_admin(user):
        return "all"
    if isinstance(user, SystemActor) or user is None or not user.is_authenticated or not user.is_active:
        return "none"
    return "own"


def require_unassigned(user: User | None) -> None:
    """The Unassigned prearchive listing is for site admins and, for their own uploads, every signed-in
    account (`unassigned_scope`); a visitor gets NotFound, as if it did not exist."""
    if unassigned_scope(user) == "none":
        raise NotFound("Project 'Unassigned' not found")
