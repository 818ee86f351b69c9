"""The idle-timeout sweep: RECEIVING sessions that got no data for XNATLITE_SESSION_IDLE_SECONDS are
built (prearchive/builder.py) and, when their project or `AA:` flag asks, auto-archived
(prearchive/handoff.py); sessions and archives a dead process left are recovered first
(xnat-spec.md §3.4, §3.5, §4), and so are the upload folders a killed process left under
`cache/uploads/` (xnatlite/uploads.py).

Every claim is a conditional UPDATE, so the Celery beat task, the `serve` thread and the management
command may run at once, in any number of processes.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from archive import previews
from prearchive import builder, handoff, intake
from prearchive.builder import BuildReport
from prearchive.models import PrearchiveSession, Status, change_status
from xnatlite import heartbeats, jobs, uploads

log = logging.getLogger(__name__)

# How long a run waits for the receiver's spool to catch up before leaving the building to the next run.
SPOOL_WAIT_SECONDS = 10.0
PREVIEWS_TASK = "archive.tasks.make_previews"
PREVIEWS_LOST_SECONDS = 600  # an archived session still without previews this long after: queued again


def _recover_lost_work(now: datetime) -> None:
    """Work whose process died or whose task was lost: archives left ARCHIVING are resumed or undone,
    sessions queued for archiving too long are queued again (prearchive/handoff.py), archived sessions
    without previews get their preview task again."""
    try:
        handoff.recover_stuck_archives(now)
    except Exception:
        log.exception("recovering interrupted archives failed")
    try:
        for session_id in previews.sessions_missing_previews(now - timedelta(seconds=PREVIEWS_LOST_SECONDS)):
            jobs.enqueue(PREVIEWS_TASK, session_id, best_effort=True)
    except Exception:
        log.exception("queueing missing previews failed")


def _sweep_upload_leftovers() -> None:
    """Upload folders no live process owns any more go (xnatlite/uploads.py)."""
    try:
        uploads.sweep_upload_leftovers()
    except Exception:
        log.exception("sweeping upload leftovers failed")


def build_idle_sessions(now: datetime | None = None) -> BuildReport:
    """Claim every RECEIVING session idle for XNATLITE_SESSION_IDLE_SECONDS and build it.

    Skips rows with prevent_auto_commit or SOURCE=uploader (their client commits, §3.5). Sessions that
    become READY are auto-archived when their project or `AA:` flag asks (prearchive/handoff.py).
    """
    now = now or timezone.now()
    heartbeats.beat(heartbeats.SWEEP)
    report = builder.recover_stuck_sessions(now)
    _recover_lost_work(now)
    _sweep_upload_leftovers()
    # An instance the receiver acknowledged may wait in its spool for a moment before its session is
    # claimed (dicom_receiver/spool.py): build nothing until what was received before now is processed.
    if not intake.wait_until_processed(time.time(), SPOOL_WAIT_SECONDS):
        oldest = intake.pending_since() or time.time()
        log.warning(
            "the receiver's spool holds instances received %.0f s ago: idle sessions wait for them"
            " (are the receiver's spool workers running?)",
            time.time() - oldest,
        )
        return report
    cutoff = now - timedelta(seconds=settings.SESSION_IDLE_SECONDS)
    idle = (
        PrearchiveSession.objects.filter(
            status=Status.RECEIVING, last_modified__lte=cutoff, prevent_auto_commit=False, open_upload=""
        )
        .exclude(source="uploader")
        .select_related("project")
        .order_by("last_modified")
    )
    for session in idle:
        if not change_status(session, Status.BUILDING, only_if=Q(last_modified__lte=cutoff)):
            continue  # new data arrived, or another builder took it
        try:
            builder.build_session(session, report, on_ready=_auto_archive)
        except Exception as exc:  # one broken session must not stop the others
            log.exception("building prearchive session %s failed", session)
            session.refresh_from_db(fields=["status"])
            if session.status == Status.BUILDING:
                change_status(session, Status.ERROR, reason=f"Building the session failed: {exc}")
            report.errors.append(session.pk)
    return report


def _auto_archive(session: PrearchiveSession) -> None:
    """Queue a session that just became READY when its project code or `AA:` flag asks (§4), in the
    transaction that made it READY (builder.build_session)."""
    try:
        handoff.auto_archive(session)
    except Exception:  # the session stays READY for a person to archive
        log.exception("auto-archiving prearchive session %s failed", session)


def run_builder(stop: threading.Event, interval: float | None = None) -> None:
    """Run `build_idle_sessions` every XNATLITE_SESSION_CHECK_SECONDS until `stop` is set."""
    interval = interval if interval is not None else settings.SESSION_CHECK_SECONDS
    log.info("idle-session builder: every %ss, idle after %ss", interval, settings.SESSION_IDLE_SECONDS)
    while not stop.is_set():
        try:
            close_old_connections()
            build_idle_sessions()
        except Exception:
            log.exception("idle-session builder run failed")
        finally:
            close_old_connections()
        stop.wait(interval)


def start(stop: threading.Event) -> None:
    """`serve` companion: the idle-session builder in a thread of the all-in-one process."""
    run_builder(stop)
