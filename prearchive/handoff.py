"""Handing prearchive sessions to archiving (archiving/), and recording how it ended.

Every way of archiving ends here: Review and Archive and the bulk action in the UI, auto-archive,
the REST API, uploads with an archive destination, the admin command. `queue_archive` checks what
was asked, moves the session to QUEUED_ARCHIVING and queues the task; on the way every request passes
the identity policy (archiving/identity.py) in `_queue`, and auto-archive in `auto_archive`: labels
that look like a name or an MRN are archived only when the person archiving confirmed them; `archive_queued` (the task)
takes the session's lock, claims it (QUEUED_ARCHIVING -> ARCHIVING), hands it to
`archiving.archive` and leaves it CONFLICT or ERROR with the reason when that did not succeed;
`archive_session` does both in the caller's process (XNAT's synchronous `/data/services/archive`).
A session whose archive a dead process left is resumed or undone by `recover_stuck_archives`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import archiving
from archiving import ArchiveRequest, Outcome, SourceFile, ValidationResult, journals
from prearchive.builder import rebuild_session_rows, rows_match_disk
from prearchive.models import (
    AutoArchive,
    PrearchiveFile,
    PrearchiveSession,
    Status,
    change_status,
    require_actionable,
)
from xnatlite import audit, disk, jobs, layout, permissions
from xnatlite.errors import ArchiveConflict, InvalidInput, InvalidStatus, XnatliteError
from xnatlite.permissions import User

log = logging.getLogger(__name__)

ARCHIVE_TASK = "prearchive.tasks.archive_prearchive_session"
STUCK_SECONDS = 60  # an ARCHIVING row nobody holds the lock of for this long is resumed by the sweep
# A QUEUED_ARCHIVING row waiting settings.LOST_TASK_SECONDS had its task lost (a broker restarted
# without it, a broker that could not be reached at commit, a worker killed with it prefetched): the
# sweep queues it again, at most this often. A task queued twice does no harm: the second finds the
# session claimed or gone.


class SessionSource:
    """A prearchive session as archiving reads it (archiving.ArchiveSource)."""

    def __init__(self, session: PrearchiveSession):
        self.session = session
        self.key = session.pk
        self.project = session.project
        self.label, self.subject_label, self.folder_name = (
            session.label,
            session.subject_label,
            session.folder_name,
        )
        self.study_instance_uid = session.study_instance_uid
        self.scan_date, self.scan_time = session.scan_date, session.scan_time
        self.visit, self.protocol = session.visit, session.protocol
        self.prevent_anon = session.prevent_anon
        self.file_count = session.file_count

    @property
    def folder(self):
        return self.session.folder

    @property
    def url(self) -> str:
        return self.session.url

    @property
    def owning_project(self):
        return self.session.owning_project

    def _rows(self):
        return PrearchiveFile.objects.filter(session=self.session)

    def files(self) -> Iterator[SourceFile]:
        rows = self._rows().order_by("scan_id", "instance_number", "id").values_list(*SourceFile._fields)
        return (SourceFile(*values) for values in rows.iterator(chunk_size=2000))

    def scans(self) -> list[tuple[str, str]]:
        rows = self._rows().order_by().values_list("scan_id", "series_instance_uid").distinct()
        return sorted(rows)

    def modalities(self) -> set[str]:
        return set(self._rows().order_by().values_list("modality", flat=True).distinct())

    def sop_instance_uids(self):
        return self._rows().values("sop_instance_uid")

    def sync_with_disk(self) -> int:
        if rows_match_disk(self.session):
            return 0
        summary = rebuild_session_rows(self.session)
        self.file_count = summary["file_count"]
        return len(summary["unreadable"])

    def lock_for_commit(self) -> bool:
        return (
            PrearchiveSession.objects.select_for_update()
            .filter(pk=self.key, status=Status.ARCHIVING)
            .exists()
        )

    def remove_for_commit(self) -> None:
        PrearchiveSession.objects.filter(pk=self.key).delete()

    def exists(self) -> bool:
        return PrearchiveSession.objects.filter(pk=self.key).exists()


# --- what is asked ---------------------------------------------------------------------------------
def archive_request(
    session: PrearchiveSession,
    *,
    by: User,
    project: str | None = None,
    subject: str | None = None,
    label: str | None = None,
    overwrite: str = "none",
    overwrite_files: bool = False,
    confirm_identifiers: bool = False,
) -> ArchiveRequest:
    """Check what someone asks for before anything changes: the request as archiving takes it."""
    permissions.require(by, "prearchive", session)
    if session.project_id is None:
        raise InvalidInput(archiving.UNASSIGNED_MESSAGE)
    overwrite = (overwrite or "none").lower()
    if overwrite not in archiving.OVERWRITE_MODES:
        raise InvalidInput(
            f"overwrite must be one of {', '.join(archiving.OVERWRITE_MODES)}, not '{overwrite}'"
        )
    destination = permissions.get_project(by, project, "edit").id if project else ""
    return ArchiveRequest(
        project=destination,
        subject=layout.check_label(subject, "Subject label") if subject else "",
        label=layout.check_label(label, "Session label") if label else "",
        overwrite=overwrite,
        overwrite_files=bool(overwrite_files),
        confirm_identifiers=bool(confirm_identifiers),
    )


def validate_archive(
    session: PrearchiveSession,
    *,
    by: User,
    project: str | None = None,
    subject: str | None = None,
    label: str | None = None,
    overwrite: str = "none",
    confirm_identifiers: bool = False,
) -> list[ValidationResult]:
    """What archiving with these labels would run into (§3.8 codes, and 30: the identity policy),
    without changing anything."""
    permissions.require(by, "prearchive", session)
    if project:
        project = permissions.get_project(by, project, "edit").id
    request = ArchiveRequest(
        project=project or "",
        subject=subject or "",
        label=label or "",
        overwrite=overwrite or "none",
        confirm_identifiers=bool(confirm_identifiers),
    )
    results, _ = archiving.validate(SessionSource(session), request)
    return results


def should_auto_archive(session: PrearchiveSession) -> tuple[bool, str]:
    """(archive now?, overwrite mode) for a session that just became READY (xnat-spec.md §4).

    AutoArchive merges into an existing session but never overwrites files (`append`);
    AutoArchiveOverwrite also overwrites (`delete`). Unassigned data is never auto-archived.
    """
    if session.project_id is None:
        return False, "none"
    if session.auto_archive == AutoArchive.AUTO_ARCHIVE:
        return True, "append"
    if session.auto_archive == AutoArchive.AUTO_ARCHIVE_OVERWRITE:
        return True, "delete"
    return False, "none"


# --- queueing --------------------------------------------------------------------------------------
def _queue(session: PrearchiveSession, request: ArchiveRequest, actor: User, action: str) -> bool:
    """THE function that queues a person's archive: the identity policy (UnconfirmedIdentifiers, nothing
    changed), then QUEUED_ARCHIVING with what was asked kept on the row (for the sweep, should the task
    be lost), and its audit record, which names the labels a person confirmed; False when the session
    changed status meanwhile."""
    confirmed = archiving.require_confirmed_labels(SessionSource(session), request)
    asked = {"request": request.as_dict(), "actor": permissions.actor_to_plain(actor)}
    if not change_status(session, Status.QUEUED_ARCHIVING, archive_request=asked):
        return False
    extra = {"confirmed_identifiers": confirmed} if confirmed else {}
    audit.record(actor, action, session, **request.as_dict(), **extra)
    return True


def _send(session: PrearchiveSession) -> None:
    """Queue the archive task of a QUEUED_ARCHIVING session after commit, with what was asked."""
    asked = session.archive_request or {}
    jobs.enqueue(ARCHIVE_TASK, session.pk, asked.get("actor"), asked.get("request") or {})


@transaction.atomic
def queue_archive(session: PrearchiveSession, *, by: User, **asked) -> PrearchiveSession:
    """Queue the session for archiving (status QUEUED_ARCHIVING); a task archives it after commit.
    `asked`: project, subject, label, overwrite, overwrite_files (see `archive_request`)."""
    request = archive_request(session, by=by, **asked)
    require_actionable(session, "archived")
    if not _queue(session, request, by, "prearchive.session.archive_requested"):
        raise InvalidStatus(f"Session {session.folder_name} changed status meanwhile; reload and try again")
    _send(session)
    return session


@transaction.atomic
def auto_archive(session: PrearchiveSession) -> bool:
    """Queue a session that just became READY if its project or its `AA:` flag says so (xnat-spec.md
    §4): code 4 merges but never overwrites (collisions end in CONFLICT), code 5 overwrites.
    Unassigned data never is. A session whose labels look like a name or an MRN (the identity policy,
    archiving/identity.py) is not: it becomes ERROR with the reason. True if queued."""
    wanted, overwrite = should_auto_archive(session)
    if not wanted or session.status != Status.READY:
        return False
    subject, label = archiving.final_labels(SessionSource(session), ArchiveRequest())
    findings = archiving.identity.label_findings(subject=subject, session=label)
    if findings:  # nobody is there to confirm them: the session waits in the prearchive for a person
        reason = (
            "Not auto-archived: " + "; ".join(findings) + ". Relabel it in Review and Archive, "
            "or archive it and confirm the labels"
        )
        if change_status(session, Status.ERROR, reason=reason):
            audit.record(
                permissions.AUTO_ARCHIVE,
                "prearchive.session.auto_archive_refused",
                session,
                findings=findings,
            )
        return False
    asked = {"request": ArchiveRequest(overwrite=overwrite).as_dict(), "actor": permissions.AUTO_ARCHIVE.name}
    if not change_status(session, Status.QUEUED_ARCHIVING, archive_request=asked):
        return False
    audit.record(
        permissions.AUTO_ARCHIVE, "prearchive.session.auto_archive_queued", session, overwrite=overwrite
    )
    _send(session)
    return True


# --- archiving ------------------------------------------------------------------------------------
def archive_queued(session_id: int, *, actor: User, request: ArchiveRequest) -> Outcome:
    """Archive a QUEUED_ARCHIVING (or interrupted ARCHIVING) session under its lock; a CONFLICT or
    ERROR row keeps the reason. Safe to run twice: the second run finds the lock held or the row gone."""
    with disk.flock(disk.session_lock_path(session_id)) as held:
        if not held:
            log.info("prearchive session %s is being archived by another process", session_id)
            return Outcome("skipped", reason="Another process is archiving this session")
        session = PrearchiveSession.objects.select_related("project").filter(pk=session_id).first()
        done = archiving.recover(session_id, still_in_prearchive=session is not None)
        if done is not None:
            return Outcome("archived", session=done, reason="finished an interrupted archive")
        if session is None:
            return Outcome("skipped", reason="The prearchive session no longer exists")
        if session.status == Status.QUEUED_ARCHIVING:
            if not change_status(session, Status.ARCHIVING):
                return Outcome("skipped", reason="The session changed status before it was claimed")
        elif session.status == Status.ARCHIVING:
            log.warning("prearchive session %s: resuming an interrupted archive", session)
        else:
            return Outcome("skipped", reason=f"The session is {session.status}, not queued for archiving")
        outcome = archiving.archive(SessionSource(session), actor=actor, request=request)
        if outcome.status in ("conflict", "error"):
            status = Status.CONFLICT if outcome.status == "conflict" else Status.ERROR
            if change_status(session, status, expected=Status.ARCHIVING, reason=outcome.reason[:4000]):
                audit.record(
                    actor,
                    "prearchive.session.archive_failed",
                    session,
                    status=status,
                    reason=outcome.reason[:500],
                )
        elif outcome.status == "archived":
            disk.session_lock_path(session_id).unlink(missing_ok=True)
    return outcome


def archive_session(session: PrearchiveSession, *, by: User, **asked) -> Outcome:
    """Archive now, in this process (XNAT's synchronous `/data/services/archive`, uploads to the archive,
    the admin command): a READY, CONFLICT or ERROR session is queued and archived, a queued or
    interrupted one resumed. Raises ArchiveConflict or XnatliteError, the row left CONFLICT or ERROR,
    when it cannot be archived. `asked` as for `queue_archive`."""
    if session.status in (Status.QUEUED_ARCHIVING, Status.ARCHIVING):
        permissions.require(by, "prearchive", session)
        journal = journals.read(session.pk) or {}
        request = (
            ArchiveRequest.from_dict(journal.get("request"))
            if not asked
            else archive_request(session, by=by, **asked)
        )
    else:
        request = archive_request(session, by=by, **asked)
        require_actionable(session, "archived")
        with transaction.atomic():
            if not _queue(session, request, by, "prearchive.session.archive_requested"):
                raise InvalidStatus(
                    f"Session {session.folder_name} changed status meanwhile; reload and try again"
                )
    outcome = archive_queued(session.pk, actor=by, request=request)
    if outcome.status != "archived" and PrearchiveSession.objects.filter(pk=session.pk).exists():
        session.refresh_from_db()  # the caller's copy shows CONFLICT or ERROR and the reason
    if outcome.status == "archived" and outcome.session is not None:
        return outcome
    if outcome.status == "conflict":
        raise ArchiveConflict(outcome.reason)
    if outcome.status == "skipped":
        raise InvalidStatus(outcome.reason)
    raise XnatliteError(outcome.reason or "Archiving failed")


# --- recovery --------------------------------------------------------------------------------------
def recover_stuck_archives(now: datetime | None = None) -> list[int]:
    """Sweep: ARCHIVING rows whose lock nobody holds belong to a process that died. Each is resumed
    with the request its journal recorded (or put back to READY when there is none); QUEUED_ARCHIVING
    rows whose task was lost are queued again. Returns the ids."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=min(STUCK_SECONDS, settings.LOST_TASK_SECONDS))
    resumed = requeue_lost_archives(now)
    for session in PrearchiveSession.objects.filter(status=Status.ARCHIVING, last_modified__lte=cutoff):
        if disk.is_locked(disk.session_lock_path(session.pk)):
            continue
        journal = journals.read(session.pk) or {}
        if "request" in journal:
            log.warning("prearchive session %s: archiving was interrupted; resuming it", session)
            jobs.enqueue(ARCHIVE_TASK, session.pk, journal.get("actor"), journal["request"])
        else:
            reset_interrupted(session)
        resumed.append(session.pk)
    return resumed


def requeue_lost_archives(now: datetime) -> list[int]:
    """Queue the task of every session queued for archiving longer than settings.LOST_TASK_SECONDS again
    (touching it, so once per period); a row without the request (queued by an older version) goes back
    to READY."""
    cutoff = now - timedelta(seconds=settings.LOST_TASK_SECONDS)
    requeued = []
    for session in PrearchiveSession.objects.filter(
        status=Status.QUEUED_ARCHIVING, last_modified__lte=cutoff
    ):
        if disk.is_locked(disk.session_lock_path(session.pk)):
            continue  # a worker is on it right now
        if not session.archive_request:
            reset_interrupted(session)
        elif PrearchiveSession.objects.filter(
            pk=session.pk, status=Status.QUEUED_ARCHIVING, last_modified__lte=cutoff
        ).update(last_modified=now):
            log.warning(
                "prearchive session %s waited %ss for its archive task: queued again",
                session,
                settings.LOST_TASK_SECONDS,
            )
            _send(session)
        requeued.append(session.pk)
    return requeued


def reset_interrupted(session: PrearchiveSession) -> bool:
    """Put a session whose archiving stopped back to READY after undoing the attempt; False if a live
    process is archiving it."""
    with disk.flock(disk.session_lock_path(session.pk)) as held:
        if not held:
            return False
        archiving.recover(session.pk, still_in_prearchive=True)
        session.refresh_from_db(fields=["status"])
        if session.status in (Status.ARCHIVING, Status.QUEUED_ARCHIVING):
            change_status(session, Status.READY)
        return True
