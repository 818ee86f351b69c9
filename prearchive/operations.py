"""What people do to prearchive sessions (xnat-spec.md §3.7): validate and archive them, delete, move to
another project, rebuild, reset a stuck status. The browser UI and the REST API both call these.

Each is permission-checked (§2.4: a project's prearchive belongs to its owners and members;
Unassigned to site admins; moving needs edit rights on the destination) and audited. Archiving
itself is archiving: here a session is only queued for it, or archived in this process
when the caller waits for the answer (the REST archive service, uploads to an archive destination).
"""

from __future__ import annotations

import logging
import os

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr

from archive.models import ImageSession
from archiving import (
    AUTO_ARCHIVE_ACTOR,
    OVERWRITE_MODES,
    UNASSIGNED_MESSAGE,
    ArchiveRequest,
    ValidationResult,
    actor_name,
    archive_now,
    reset_interrupted,
    validate,
)
from prearchive.models import ACTIONABLE, PrearchiveFile, PrearchiveSession, Status, change_status
from xnatlite import audit, disk, layout, permissions
from xnatlite.errors import ArchiveConflict, InvalidInput, InvalidStatus, XnatliteError

log = logging.getLogger(__name__)

User = AbstractBaseUser


def _require(by: User, session: PrearchiveSession) -> None:
    """Owners and members of the session's project; site admins for Unassigned (NotFound otherwise)."""
    permissions.require(by, "prearchive", session)


def _require_actionable(session: PrearchiveSession, what: str) -> None:
    if session.status not in ACTIONABLE:
        raise InvalidStatus(
            f"Session {session.folder_name} is {session.status}; only READY, CONFLICT or ERROR "
            f"sessions can be {what}"
        )


def _archive_request(
    session: PrearchiveSession,
    by: User,
    project: str | None,
    subject: str | None,
    label: str | None,
    overwrite: str,
    overwrite_files: bool,
) -> ArchiveRequest:
    """Check what a user asks for before anything changes; the request as the archive task takes it."""
    _require(by, session)
    if session.project_id is None:
        raise InvalidInput(UNASSIGNED_MESSAGE)
    overwrite = (overwrite or "none").lower()
    if overwrite not in OVERWRITE_MODES:
        raise InvalidInput(f"overwrite must be one of {', '.join(OVERWRITE_MODES)}, not '{overwrite}'")
    destination = permissions.get_project(by, project, "edit").id if project else ""
    return ArchiveRequest(
        project=destination,
        subject=layout.check_label(subject, "Subject label") if subject else "",
        label=layout.check_label(label, "Session label") if label else "",
        overwrite=overwrite,
        overwrite_files=bool(overwrite_files),
    )


def validate_archive(
    session: PrearchiveSession,
    *,
    by: User,
    project: str | None = None,
    subject: str | None = None,
    label: str | None = None,
    overwrite: str = "none",
) -> list[ValidationResult]:
    """What archiving with these labels would run into (§3.8 codes), without changing anything."""
    _require(by, session)
    if project:
        project = permissions.get_project(by, project, "edit").id
    request = ArchiveRequest(
        project=project or "", subject=subject or "", label=label or "", overwrite=overwrite or "none"
    )
    results, _ = validate(session, request)
    return results


def _queue(session: PrearchiveSession, request: ArchiveRequest, actor: User | str, action: str) -> None:
    if not change_status(session, Status.QUEUED_ARCHIVING):
        raise InvalidStatus(f"Session {session.folder_name} changed status meanwhile; reload and try again")
    audit.record(actor, action, session, **request.as_dict())


@transaction.atomic
def request_archive(
    session: PrearchiveSession,
    *,
    by: User,
    project: str | None = None,
    subject: str | None = None,
    label: str | None = None,
    overwrite: str = "none",
    overwrite_files: bool = False,
) -> PrearchiveSession:
    """Queue the session for archiving (status QUEUED_ARCHIVING); a Celery task archives it after commit."""
    from archive import tasks

    request = _archive_request(session, by, project, subject, label, overwrite, overwrite_files)
    _require_actionable(session, "archived")
    _queue(session, request, by, "prearchive.session.archive_requested")
    actor, values = actor_name(by), request.as_dict()
    transaction.on_commit(lambda: tasks.archive_prearchive_session.delay(session.pk, actor, values))
    return session


def archive_session(
    session: PrearchiveSession,
    *,
    by: User,
    project: str | None = None,
    subject: str | None = None,
    label: str | None = None,
    overwrite: str = "none",
    overwrite_files: bool = False,
    wait: bool = True,
) -> ImageSession | None:
    """Archive now, in this process, and return the archived session (XNAT's synchronous
    `/data/services/archive`); ArchiveConflict or another error, with the row left CONFLICT or ERROR,
    when it cannot be. With `wait=False` it only queues the session, as `request_archive`."""
    if not wait:
        request_archive(
            session,
            by=by,
            project=project,
            subject=subject,
            label=label,
            overwrite=overwrite,
            overwrite_files=overwrite_files,
        )
        return None
    request = _archive_request(session, by, project, subject, label, overwrite, overwrite_files)
    _require_actionable(session, "archived")
    outcome = archive_now(session, actor=by, request=request)
    if outcome.status == "archived" and outcome.session is not None:
        return outcome.session
    if outcome.status == "conflict":
        raise ArchiveConflict(outcome.reason)
    if outcome.status == "skipped":
        raise InvalidStatus(outcome.reason)
    raise XnatliteError(outcome.reason or "Archiving failed")


@transaction.atomic
def auto_archive(session: PrearchiveSession) -> bool:
    """Queue a session that just became READY if its project or its `AA:` flag says so (xnat-spec.md
    §4): code 4 merges but never overwrites (collisions end in CONFLICT), code 5 overwrites.
    Unassigned data never is. True if queued."""
    from archive import tasks
    from prearchive.builder import should_auto_archive

    wanted, overwrite = should_auto_archive(session)
    if not wanted or session.status != Status.READY:
        return False
    request = ArchiveRequest(overwrite=overwrite)
    if not change_status(session, Status.QUEUED_ARCHIVING):
        return False
    audit.record(AUTO_ARCHIVE_ACTOR, "prearchive.session.auto_archive_queued", session, overwrite=overwrite)
    values = request.as_dict()
    transaction.on_commit(lambda: tasks.archive_prearchive_session.delay(session.pk, None, values))
    return True


# --- delete, move, rebuild, reset -----------------------------------------------------------------
def _trash(session: PrearchiveSession) -> os.PathLike:
    return layout.cache_root() / "deleted" / f"prearchive-{session.pk}"


def delete_session(session: PrearchiveSession, *, by: User) -> None:
    """Delete a prearchive session and its files (owners and members; admins for Unassigned)."""
    _require(by, session)
    _require_actionable(session, "deleted")
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
    _require_actionable(session, "moved")
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
    from prearchive.builder import BuildReport, build_session

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
    queued = committing and session.pk in report.ready and auto_archive(session)
    # Without a broker the archive task already ran in this process: the row may be gone.
    if queued and PrearchiveSession.objects.filter(pk=session.pk).exists():
        session.refresh_from_db()
    return session


def reset_status(session: PrearchiveSession, *, by: User) -> PrearchiveSession:
    """Bring a session stuck in a transient status (a process died) back to READY, undoing what the
    interrupted operation left on disk; CONFLICT and ERROR also go back to READY."""
    from prearchive.builder import rebuild_session_rows

    _require(by, session)
    previous = Status(session.status)
    if previous == Status.READY:
        return session
    if previous in (Status.ARCHIVING, Status.QUEUED_ARCHIVING):
        if not reset_interrupted(session):
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
