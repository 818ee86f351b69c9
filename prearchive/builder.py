"""Building a prearchive session: scan IDs, counts, the rows made to match the files on disk, and
BUILDING -> READY (xnat-spec.md §3.4, §3.5, §5.6); and the recovery of sessions a dead process left in
a transient status. The idle-timeout sweep that decides which sessions to build is prearchive/sweep.py.

Every claim is a conditional UPDATE, so any number of processes may build at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from dicomio.errors import InvalidDicom
from dicomio.files import read_instance
from prearchive.instances import file_fields
from prearchive.models import PrearchiveFile, PrearchiveSession, Status, change_status
from xnatlite import audit, disk, layout, permissions

log = logging.getLogger(__name__)

ACTOR = permissions.PREARCHIVE_BUILDER
# A build takes seconds and holds the session's lock: a row in BUILDING this long (or
# settings.LOST_TASK_SECONDS if shorter) whose lock nobody holds belongs to a process that died.
STUCK_SECONDS = 60


@dataclass
class BuildReport:
    """What one run of the builder did, by session id."""

    ready: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


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


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def disk_files(session: PrearchiveSession) -> set[str]:
    """The session's `SCANS/*/DICOM/*.dcm` files, as rows name them (listed with os.listdir: pathlib's
    glob took a twentieth of the time of an archive without a script)."""
    folder = session.folder
    prefix = layout.relative_path(folder)
    found = set()
    for scan in _names(folder / "SCANS"):
        names = _names(folder / "SCANS" / scan / "DICOM")
        found.update(
            f"{prefix}/SCANS/{scan}/DICOM/{name}"
            for name in names
            if name.endswith(".dcm") and name[0] != "."
        )
    return found


def rows_match_disk(session: PrearchiveSession) -> bool:
    """Whether the session's rows name exactly its files (a process that died may have left a file
    without its row)."""
    return disk_files(session) == set(
        PrearchiveFile.objects.filter(session=session).values_list("path", flat=True)
    )


def rebuild_session_rows(session: PrearchiveSession) -> dict:
    """Make the session's file rows, scan IDs and counts match the files on disk; returns a summary.

    Rows whose file is gone are removed; files without a row are read and added; files that are not
    DICOM are left alone and reported. The status is not changed (the caller decides). Files are read
    before the transaction, which stays short (SQLite shares one write lock with the receiver).
    """
    on_disk = disk_files(session)
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


def build_session(
    session: PrearchiveSession,
    report: BuildReport,
    on_ready: Callable[[PrearchiveSession], object] | None = None,
) -> None:
    """Build a session this process has moved to BUILDING: rows from disk, scan IDs, counts, READY.
    An upload that was still marked as writing it (cut off, prearchive/uploads.py) is forgotten: someone
    chose to build what arrived. The session's lock is held meanwhile, so that the sweep can tell a
    live build from one whose process died (`recover_stuck_sessions`). `on_ready` (the sweep's
    auto-archive) runs in the transaction that makes the session READY: a process killed in between
    leaves neither, never a READY session that was to be archived and never will be."""
    with disk.flock(disk.session_lock_path(session.pk)):  # not had: the caller holds it already
        whole = _build(session, report)
    if whole:
        _make_ready(session, report, on_ready)


def _build(session: PrearchiveSession, report: BuildReport) -> bool:
    """Rows, scan IDs and counts from disk; True when the session is whole and may become READY."""
    if session.open_upload:
        PrearchiveSession.objects.filter(pk=session.pk).update(open_upload="")
        session.open_upload = ""
    if not rows_match_disk(session):
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
        return False
    problem = _build_problem(session)
    if not problem:
        return True
    if change_status(session, Status.ERROR, reason=problem):
        report.errors.append(session.pk)
        audit.record(ACTOR, "prearchive.session.build_failed", session, reason=problem)
    else:
        _interrupted(session, report)
    return False


def _make_ready(
    session: PrearchiveSession, report: BuildReport, on_ready: Callable[[PrearchiveSession], object] | None
) -> None:
    """READY, with `on_ready` in the same transaction; after the session's lock is let go, since the
    archive task it queues takes that lock (in this very process, at commit, when there is no broker)."""
    with transaction.atomic():
        ready = change_status(session, Status.READY)
        if ready and on_ready is not None:
            on_ready(session)
    if not ready:
        _interrupted(session, report)
        return
    report.ready.append(session.pk)
    log.info(
        "prearchive session %s is READY (%s files, %s scans)", session, session.file_count, session.scan_count
    )


def _interrupted(session: PrearchiveSession, report: BuildReport) -> None:
    """Data arrived during the build: no auto-archive, back to RECEIVING for the next idle period."""
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
    """Sessions left BUILDING or RECEIVING_INTERRUPT by a process that died (nobody holds their lock)
    go back to RECEIVING, to be built again."""
    report = report or BuildReport()
    cutoff = (now or timezone.now()) - timedelta(seconds=min(STUCK_SECONDS, settings.LOST_TASK_SECONDS))
    for session in PrearchiveSession.objects.filter(
        status__in=[Status.BUILDING, Status.RECEIVING_INTERRUPT], last_modified__lte=cutoff
    ):
        if disk.is_locked(disk.session_lock_path(session.pk)):
            continue  # a live process is building it
        if change_status(session, Status.RECEIVING, only_if=Q(last_modified__lte=cutoff)):
            log.warning("prearchive session %s was stuck; back to RECEIVING to be built again", session)
            audit.record(ACTOR, "prearchive.session.recovered", session)
            report.recovered.append(session.pk)
    return report
