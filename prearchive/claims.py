"""Which prearchive session an instance joins (xnat-spec.md §3.4): found by (project, StudyInstanceUID,
session label) and, for Unassigned data, who uploaded it (one account's upload never joins another's,
nor the receiver's), created (with a folder suffix when its name is taken, §3.1), reopened, or
interrupted while it is being built. Every claim is a conditional UPDATE on the session's status, so
any number of ingesting processes may claim at once and end in one session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from dicomio.files import dicom_date, dicom_time
from prearchive import routing
from prearchive.context import IngestContext
from prearchive.models import ACCEPTING, REOPENING, PrearchiveSession, Status, change_status
from xnatlite import audit, layout
from xnatlite.cache import TimedCache
from xnatlite.models import Project

FOLDER_SUFFIX_TRIES = 3  # XNAT appends _1, _2, _3 to a folder name that is taken (§3.1)
CLAIM_TRIES = 8


@dataclass(frozen=True)
class Study:
    """The study an instance belongs to, as its header says (its date and time only matter when the
    instance starts a session)."""

    instance_uid: str
    date: str = ""
    time: str = ""


def new_timestamp(now: datetime | None = None) -> str:
    """`yyyyMMdd_HHmmssSSS` in local time (§3.1)."""
    now = timezone.localtime(now or timezone.now())
    return now.strftime("%Y%m%d_%H%M%S") + f"{now.microsecond // 1000:03d}"


def _create_session(found: routing.Route, study: Study, context: IngestContext) -> PrearchiveSession | None:
    project = Project.objects.get(pk=found.project_id) if found.project_id else None
    timestamp = new_timestamp()
    for attempt in range(FOLDER_SUFFIX_TRIES + 1):
        folder = (
            found.session if attempt == 0 else f"{found.session[: layout.LABEL_MAX_LENGTH - 2]}_{attempt}"
        )
        try:
            with transaction.atomic():
                session = PrearchiveSession.objects.create(
                    project=project,
                    timestamp=timestamp,
                    folder_name=layout.check_label(folder, "Session folder"),
                    label=found.session,
                    subject_label=found.subject,
                    study_instance_uid=study.instance_uid,
                    scan_date=dicom_date(study.date),
                    scan_time=dicom_time(study.time),
                    status=Status.RECEIVING,
                    auto_archive=context.auto_archive_column(found, project),
                    prevent_anon=not context.anonymizes,
                    prevent_auto_commit=context.prevent_auto_commit,
                    source=context.source,
                    visit=context.visit,
                    protocol=context.protocol,
                    timezone=context.timezone,
                    receiver_ae=context.receiver.ae_title if context.receiver else "",
                    calling_ae=context.receiver.calling_ae[:16] if context.receiver else "",
                    uploaded_by=context.uploader,
                    routing_values=PrearchiveSession.routing_text(found.candidates)
                    if project is None
                    else "",
                )
        except IntegrityError:
            if _receiving_session(found, study.instance_uid, context) is not None:
                return None  # another association created it first: join that one
            continue  # the folder name is taken in this timestamp: try the next suffix
        audit.record(
            context.actor,
            "prearchive.session.created",
            session,
            source=context.source,
            folder=session.folder_name,
            subject=session.subject_label,
        )
        return session
    return None


def _same_session(found: routing.Route, study_instance_uid: str, context: IngestContext) -> dict:
    """The columns a session is found by: (project, StudyInstanceUID, label), and for Unassigned data
    its uploader (None: the receiver's)."""
    columns = {
        "project_id": found.project_id,
        "study_instance_uid": study_instance_uid,
        "label": found.session,
    }
    if found.project_id is None:
        columns["uploaded_by"] = context.uploader
    return columns


def _receiving_session(
    found: routing.Route, study_instance_uid: str, context: IngestContext
) -> PrearchiveSession | None:
    return PrearchiveSession.objects.filter(
        **_same_session(found, study_instance_uid, context), status=Status.RECEIVING
    ).first()


# (project, StudyInstanceUID, label) -> the session this process last recorded a file in. While files
# keep arriving, the conditional UPDATE of record_files keeps the session RECEIVING and fresh, so the
# next instance may skip the two claim queries (a quarter of the receiver's time per instance). Only
# well inside the idle timeout: the builder cannot have claimed a session touched this recently.
_recent_claims: TimedCache[tuple, PrearchiveSession] = TimedCache(
    None, seconds=lambda: settings.SESSION_IDLE_SECONDS / 10, max_entries=4096
)


def claim_session(found: routing.Route, study: Study, context: IngestContext) -> PrearchiveSession:
    """The session this instance joins, marked as just modified, created or reopened as needed (§3.4).

    Matching is by (project, StudyInstanceUID, label). A RECEIVING row takes the data; a BUILDING row
    is interrupted; READY/CONFLICT/ERROR rows reopen; rows being archived, moved or deleted are left
    alone and a new row starts in a new timestamp folder. Touching `last_modified` with a condition on
    the status keeps the idle builder and the archive away while the file is written.
    """
    study_instance_uid = study.instance_uid
    for _ in range(CLAIM_TRIES):
        rows = list(
            PrearchiveSession.objects.filter(**_same_session(found, study_instance_uid, context)).order_by(
                "-created_at", "-id"
            )
        )
        order = {**dict.fromkeys(ACCEPTING, 0), Status.BUILDING: 1, **dict.fromkeys(REOPENING, 2)}
        rows = sorted((r for r in rows if r.status in order), key=lambda r: order[r.status])
        if not rows:
            session = _create_session(found, study, context)
            if session is not None:
                return session
            continue
        session = rows[0]
        status = Status(session.status)
        now = timezone.now()
        if status in ACCEPTING:
            if PrearchiveSession.objects.filter(pk=session.pk, status=status).update(last_modified=now):
                session.last_modified = now
                return session
        elif status == Status.BUILDING:
            if change_status(session, Status.RECEIVING_INTERRUPT):
                return session
        else:
            try:
                with transaction.atomic():
                    reopened = change_status(session, Status.RECEIVING)
            except IntegrityError:  # another row already receives this study: join it next time
                continue
            if reopened:
                audit.record(context.actor, "prearchive.session.reopened", session, previous=status)
                return session
    raise RuntimeError(f"Could not claim a prearchive session for study {study_instance_uid}")


def key(found: routing.Route, study: Study, context: IngestContext) -> tuple:
    """What a session is found by: (project, StudyInstanceUID, session label, Unassigned uploader)."""
    uploader = context.uploader if found.project_id is None else None
    return (found.project_id, study.instance_uid, found.session, uploader.pk if uploader else None)


def session_for(found: routing.Route, study: Study, context: IngestContext) -> PrearchiveSession:
    """The session this process recorded this study in moments ago, else `claim_session`'s."""
    return _recent_claims.peek(key(found, study, context)) or claim_session(found, study, context)


def remember(claim: tuple, session: PrearchiveSession) -> None:
    """A file of `claim` was recorded in `session` just now (record_files kept it RECEIVING)."""
    _recent_claims.put(claim, session)


def forget(claim: tuple) -> None:
    """The session of `claim` stopped receiving: claim again next time."""
    _recent_claims.discard(claim)
