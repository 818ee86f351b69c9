"""What people do to prearchive sessions besides archiving them (xnat-spec.md §3.7): delete, move to
another project, rebuild (and so commit), reset a stuck status. The browser UI and the REST API both
call these; archiving is prearchive/handoff.py.

Each is permission-checked (§2.4: a project's prearchive belongs to its owners and members;
Unassigned to site admins; moving needs edit rights on the destination) and audited.
"""

from __future__ import annotations

import logging
import os

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr

from prearchive import handoff
from prearchive.builder import BuildReport, build_session, rebuild_session_rows
from prearchive.models import (
    ACTIONABLE,
    PrearchiveFile,
    PrearchiveSession,
    Status,
    change_status,
    require_actionable,
)
from xnatlite import audit, disk, layout, permissions
from xnatlite.errors import ArchiveConflict, InvalidInput, InvalidStatus, XnatliteError

log = logging.getLogger(__name__)

User = AbstractBaseUser


def _require(by: User, session: PrearchiveSession) -> None:
    """Owners and members of the session's project; site admins for Unassigned (NotFound otherwise)."""
    permissions.require(by, "prearchive", session)


# --- delete, move, rebuild, reset -----------------------------------------------------------------
def _trash(session: PrearchiveSession) -> os.PathLike:
    return layout.cache_root() / "deleted" / f"prearchive-{session.pk}"


def delete_session(session: PrearchiveSession, *, by: User) -> None:
    """Delete a prearchive session and its files (owners and members; admins for Unassigned)."""
    _require(by, session)
    require_actionable(session, "deleted")
    previous = Status(session.status)
    with disk.flock(disk.session_lock_path(session.pk)) as held:
        if not held or not change_status(session, Status.DELETING):
            raise InvalidStatus(f"Session {session.folder_name} is busy; try again")
        folder, trash = session.folder, _trash(session)
        moved = False
        try:
            with transaction.atomic():
                audit.record(by, "prearchive.session.deleted", session, files=session.file_count)
                PrearchiveSession.objects.filter(pk=session.pk, status=Status.DELETING).delete()
                moved = disk.move_aside(folder, trash) is not None  # last: undone if the rows fail
        except BaseException:
            if moved:
                os.replace(trash, folder)
            change_status(session, previous, expected=Status.DELETING)
            raise
    disk.session_lock_path(session.pk).unlink(missing_ok=True)  # the row is gone: nobody locks it again
    disk.remove_tree(trash)
    _remove_if_empty(folder.parent)


def _remove_if_empty(folder) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def move_session(session: PrearchiveSession, project: str, *, by: User) -> PrearchiveSession:
    """Move a session to another project's prearchive, same timestamp and folder (§3.7); it stays
    READY there, never auto-archived. Needs edit rights on the destination (§2.4)."""
    _require(by, session)
    if not project:
        raise InvalidInput("Name the project to move the session to (newProject)")
    try:
        destination = permissions.get_project(by, project, "edit")
    except XnatliteError:
        raise XnatliteError(f"Unable to modify session data for destination project '{project}'") from None
    if destination.pk == session.project_id:
        return session
    require_actionable(session, "moved")
    previous = Status(session.status)
    source, from_project = session.folder, session.project_name
    target = layout.prearchive_session_dir(destination.pk, session.timestamp, session.folder_name)
    if (
        target.exists()
        or PrearchiveSession.objects.filter(
            project=destination, timestamp=session.timestamp, folder_name=session.folder_name
        ).exists()
    ):
        raise ArchiveConflict(
            f"Project {destination.pk} already has a prearchive session {session.timestamp}/{session.folder_name}"
        )
    with disk.flock(disk.session_lock_path(session.pk)) as held:
        if not held or not change_status(session, Status.MOVING):
            raise InvalidStatus(f"Session {session.folder_name} is busy; try again")
        old_prefix = layout.relative_path(source) + "/"
        new_prefix = layout.relative_path(target) + "/"
        renamed = False
        try:
            with transaction.atomic():
                PrearchiveFile.objects.filter(session=session, path__startswith=old_prefix).update(
                    path=Concat(Value(new_prefix), Substr(F("path"), len(old_prefix) + 1))
                )
                change_status(session, Status.READY, expected=Status.MOVING, project=destination)
                audit.record(
                    by,
                    "prearchive.session.moved",
                    session,
                    project_id=destination.pk,
                    from_project=from_project,
                    to_project=destination.pk,
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.exists():
                    os.rename(source, target)  # last: undone if the commit fails
                    renamed = True
        except BaseException:
            if renamed:
                os.rename(target, source)
            session.refresh_from_db()
            if session.status == Status.MOVING:
                change_status(session, previous)
            raise
    _remove_if_empty(source.parent)
    session.project = destination
    return session


def rebuild_session(session: PrearchiveSession, *, by: User) -> PrearchiveSession:
    """Rebuild a session from its folder (rows, scan IDs, counts) and make it READY; a RECEIVING session
    is thereby committed, and auto-archived if its project or `AA:` flag asks (§3.7 "commit")."""
    _require(by, session)
    committing = session.status == Status.RECEIVING
    if session.status not in ACTIONABLE and not committing:
        raise InvalidStatus(f"Session {session.folder_name} is {session.status}; it cannot be rebuilt now")
    if not change_status(session, Status.BUILDING):
        raise InvalidStatus(f"Session {session.folder_name} changed status meanwhile; try again")
    report = BuildReport()
    build_session(session, report)
    session.refresh_from_db()
    audit.record(by, "prearchive.session.rebuilt", session, status=session.status, files=session.file_count)
    queued = committing and session.pk in report.ready and handoff.auto_archive(session)
    # Without a broker the archive task already ran in this process: the row may be gone.
    if queued and PrearchiveSession.objects.filter(pk=session.pk).exists():
        session.refresh_from_db()
    return session


def reset_status(session: PrearchiveSession, *, by: User) -> PrearchiveSession:
    """Bring a session stuck in a transient status (a process died) back to READY, undoing what the
    interrupted operation left on disk; CONFLICT and ERROR also go back to READY."""
    _require(by, session)
    previous = Status(session.status)
    if previous == Status.READY:
        return session
    if previous in (Status.ARCHIVING, Status.QUEUED_ARCHIVING):
        if not handoff.reset_interrupted(session):
            raise InvalidStatus(f"Session {session.folder_name} is being archived right now")
    else:
        with disk.flock(disk.session_lock_path(session.pk)) as held:
            if not held:
                raise InvalidStatus(f"Session {session.folder_name} is busy; try again")
            trash = _trash(session)
            if previous in (Status.DELETING, Status.QUEUED_DELETING) and os.path.exists(trash):
                disk.move_aside(trash, session.folder)  # a delete that died half-way
            rebuild_session_rows(session)
            change_status(session, Status.READY)
    session.refresh_from_db()
    audit.record(by, "prearchive.session.status_reset", session, previous=previous, status=session.status)
    return session
