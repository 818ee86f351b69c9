"""The idle-timeout builder: RECEIVING sessions that got no data for XNATLITE_SESSION_IDLE_SECONDS go
through BUILDING to READY (xnat-spec.md §3.4, §3.5), plus the disk-to-rows rebuild and the recovery of
sessions a dead process left in a transient status.

Every claim is a conditional UPDATE, so the Celery beat task, the `serve` thread and the management
command may run at once, in any number of processes.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from prearchive import intake
from prearchive.dicomfiles import file_fields, read_instance
from prearchive.models import AutoArchive, PrearchiveFile, PrearchiveSession, Status, change_status
from xnatlite import audit, layout
from xnatlite.errors import InvalidDicom

log = logging.getLogger(__name__)

ACTOR = "system:prearchive-builder"
# A build takes seconds; a row in BUILDING for this long belongs to a process that died.
STUCK_SECONDS = 600
# How long a run waits for the receiver's spool to catch up before leaving the building to the next run.
SPOOL_WAIT_SECONDS = 10.0


@dataclass
class BuildReport:
    """What one run of the builder did, by session id."""

    ready: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


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


# --- scans ----------------------------------------------------------------------------------------
def assign_scan_ids(session: PrearchiveSession) -> int:
    """Scan = SeriesInstanceUID, ID = SeriesNumber; series sharing a number get `{n}-{MOD}{k}` (§5.6).

    Returns the number of scans. Files keep their folder (`SCANS/{n}/`), as in XNAT.
    """
    series = (
        PrearchiveFile.objects.filter(session=session)
        .values("series_instance_uid")
        .annotate(first=Min("id"), modality=Min("modality"), folder=Min("path"))
        .order_by("first")
    )
    by_base: dict[str, list[dict]] = defaultdict(list)
    for row in series:
        base = row["folder"].split("/SCANS/", 1)[-1].split("/", 1)[0]
        by_base[base].append(row)
    for base, rows in by_base.items():
        counters: dict[str, int] = defaultdict(int)
        for row in rows:
            if len(rows) == 1:
                scan_id = base
            else:
                modality = layout.clean_label(row["modality"] or "OT") or "OT"
                counters[modality] += 1
                scan_id = f"{base}-{modality}{counters[modality]}"[: layout.LABEL_MAX_LENGTH]
            PrearchiveFile.objects.filter(
                session=session, series_instance_uid=row["series_instance_uid"]
            ).exclude(scan_id=scan_id).update(scan_id=scan_id)
    return len(series)


def _refresh_counts(session: PrearchiveSession) -> dict:
    totals = PrearchiveFile.objects.filter(session=session).aggregate(
        files=Count("id"), size=Sum("size"), scans=Count("series_instance_uid", distinct=True)
    )
    return {"file_count": totals["files"], "total_size": totals["size"] or 0, "scan_count": totals["scans"]}


# --- rebuild from disk ----------------------------------------------------------------------------
def _md5(path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _disk_files(session: PrearchiveSession) -> set[str]:
    folder = session.folder
    return {layout.relative_path(p) for p in folder.glob("SCANS/*/DICOM/*.dcm")} if folder.exists() else set()


def rebuild_session_rows(session: PrearchiveSession) -> dict:
    """Make the session's file rows, scan IDs and counts match the files on disk; returns a summary.

    Rows whose file is gone are removed; files without a row are read and added; files that are not
    DICOM are left alone and reported. The status is not changed (the caller decides). Files are read
    before the transaction, which stays short (SQLite shares one write lock with the receiver).
    """
    on_disk = _disk_files(session)
    known = set(PrearchiveFile.objects.filter(session=session).values_list("path", flat=True))
    found, unreadable = [], []
    for path in sorted(on_disk - known):
        absolute = layout.absolute_path(path)
        try:
            ds = read_instance(absolute)
        except InvalidDicom as exc:  # not DICOM: keep it on disk, report it
            unreadable.append(path)
            log.warning("rebuild of %s: %s is not DICOM (%s)", session, path, exc)
            continue
        scan_dir = path.split("/SCANS/", 1)[-1].split("/", 1)[0]
        fields = file_fields(ds, absolute, absolute.stat().st_size, _md5(absolute), scan_dir)
        found.append((str(ds.SOPInstanceUID), fields))
    with transaction.atomic():
        removed, _ = PrearchiveFile.objects.filter(session=session).exclude(path__in=on_disk).delete()
        for sop_instance_uid, fields in found:
            PrearchiveFile.objects.update_or_create(
                session=session, sop_instance_uid=sop_instance_uid, defaults=fields
            )
        assign_scan_ids(session)
        counts = _refresh_counts(session)
        PrearchiveSession.objects.filter(pk=session.pk).update(**counts)
    for name, value in counts.items():
        setattr(session, name, value)
    return {"added": len(found), "removed": removed, "unreadable": unreadable, **counts}


# --- building -------------------------------------------------------------------------------------
def _build_problem(session: PrearchiveSession) -> str:
    """Why the session cannot become READY, or '' (XNAT: NoUniqueSessionException -> ERROR, §5.6)."""
    uids = set(
        PrearchiveFile.objects.filter(session=session)
        .values_list("study_instance_uid", flat=True)
        .distinct()[:3]
    )
    if len(uids) > 1:
        return "The session folder holds more than one Study Instance UID; move or delete the extra files"
    return ""


def build_session(session: PrearchiveSession, report: BuildReport) -> None:
    """Build a session this process has moved to BUILDING: rows from disk, scan IDs, counts, READY."""
    if _disk_files(session) != set(
        PrearchiveFile.objects.filter(session=session).values_list("path", flat=True)
    ):
        rebuild_session_rows(session)  # a file written by a process that died before its row
    else:
        assign_scan_ids(session)
        counts = _refresh_counts(session)
        PrearchiveSession.objects.filter(pk=session.pk).update(**counts)
        for name, value in counts.items():
            setattr(session, name, value)
    if session.file_count == 0:
        # Only a process that died between creating the row and writing the file leaves this.
        if PrearchiveSession.objects.filter(pk=session.pk, status=Status.BUILDING, file_count=0).delete()[0]:
            _remove_empty_folder(session)
            audit.record(ACTOR, "prearchive.session.removed_empty", session)
            report.removed.append(session.pk)
        return
    problem = _build_problem(session)
    if problem:
        if change_status(session, Status.ERROR, reason=problem):
            report.errors.append(session.pk)
            audit.record(ACTOR, "prearchive.session.build_failed", session, reason=problem)
            return
    elif change_status(session, Status.READY):
        report.ready.append(session.pk)
        log.info(
            "prearchive session %s is READY (%s files, %s scans)",
            session,
            session.file_count,
            session.scan_count,
        )
        return
    # Data arrived during the build: no auto-archive, back to RECEIVING for the next idle period.
    session.refresh_from_db(fields=["status"])
    if session.status == Status.RECEIVING_INTERRUPT and change_status(session, Status.RECEIVING):
        report.interrupted.append(session.pk)


def _remove_empty_folder(session: PrearchiveSession) -> None:
    """Remove the folder of a session without files (and its timestamp folder if that is empty now)."""
    folder = session.folder
    if folder.exists() and not any(p.is_file() for p in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)
        try:
            folder.parent.rmdir()
        except OSError:
            pass


def recover_stuck_sessions(now: datetime | None = None, report: BuildReport | None = None) -> BuildReport:
    """Sessions left BUILDING or RECEIVING_INTERRUPT by a process that died go back to RECEIVING."""
    report = report or BuildReport()
    cutoff = (now or timezone.now()) - timedelta(seconds=STUCK_SECONDS)
    for session in PrearchiveSession.objects.filter(
        status__in=[Status.BUILDING, Status.RECEIVING_INTERRUPT], last_modified__lte=cutoff
    ):
        if change_status(session, Status.RECEIVING, only_if=Q(last_modified__lte=cutoff)):
            log.warning("prearchive session %s was stuck; back to RECEIVING to be built again", session)
            audit.record(ACTOR, "prearchive.session.recovered", session)
            report.recovered.append(session.pk)
    return report


def _recover_stuck_archives(now: datetime) -> None:
    """Archives a dead process left ARCHIVING are resumed or undone (archiving/service.py)."""
    from archiving import recover_stuck_archives

    try:
        recover_stuck_archives(now)
    except Exception:
        log.exception("recovering interrupted archives failed")


def build_idle_sessions(now: datetime | None = None) -> BuildReport:
    """Claim every RECEIVING session idle for XNATLITE_SESSION_IDLE_SECONDS and build it.

    Skips rows with prevent_auto_commit or SOURCE=uploader (their client commits, §3.5). Sessions that
    become READY are auto-archived when `should_auto_archive` says so.
    """
    now = now or timezone.now()
    report = recover_stuck_sessions(now)
    _recover_stuck_archives(now)
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
            status=Status.RECEIVING, last_modified__lte=cutoff, prevent_auto_commit=False
        )
        .exclude(source="uploader")
        .select_related("project")
        .order_by("last_modified")
    )
    for session in idle:
        if not change_status(session, Status.BUILDING, only_if=Q(last_modified__lte=cutoff)):
            continue  # new data arrived, or another builder took it
        try:
            build_session(session, report)
        except Exception as exc:  # one broken session must not stop the others
            log.exception("building prearchive session %s failed", session)
            session.refresh_from_db(fields=["status"])
            if session.status == Status.BUILDING:
                change_status(session, Status.ERROR, reason=f"Building the session failed: {exc}")
            report.errors.append(session.pk)
            continue
        if session.pk in report.ready:
            _auto_archive(session)
    return report


def _auto_archive(session: PrearchiveSession) -> None:
    """Queue a session that just became READY when its project code or `AA:` flag asks (§4)."""
    from prearchive import operations

    try:
        operations.auto_archive(session)
    except Exception:  # the session stays READY for a person to archive
        log.exception("auto-archiving prearchive session %s failed", session)


def run_builder(stop: threading.Event, interval: float | None = None) -> None:
    """Run `build_idle_sessions` every XNATLITE_SESSION_CHECK_SECONDS until `stop` is set."""
    from django.db import close_old_connections

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
