"""The receiver's spool: instances acknowledged but not processed yet, and the workers that process them.

The receiver answers a C-STORE as soon as the instance is complete on disk in the spool queue; a pool
of workers then runs the one ingest path on batches of queued instances (routing, the site script, the
prearchive file, the rows: one transaction per batch) and empties each queued file once its row is
committed, keeping it in its `blank/` folder for a later prearchive file. This is issue 4's "speed
freedom": the sender is not kept waiting for the site script, several cores process one association,
and the database sees one transaction per batch.

Nothing in the spool is listed or readable through the UI or the API, and the idle builder leaves
every session alone while an instance received before it looked is still spooled (`pending_since`),
so no file is listed, readable, READY or archived before its site script ran.

The folders are dicom_receiver/folders.py's; the receiving side is dicom_receiver/incoming.py, the
quarantine dicom_receiver/quarantine.py. A worker's folder `work/{id}/` holds its claimed batch, its
journal, a lock it holds while it lives, and in `blank/` its processed spool files, emptied: it
writes the next prearchive files into them.

A worker that dies (even SIGKILL) leaves its folder behind. The next worker to look finds its lock
free, removes the prearchive files the dead batch wrote but never recorded (its journal names them),
and queues the instances again: every acknowledged instance ends in the prearchive exactly once.
Files are not fsynced: a process that dies loses nothing it acknowledged, an operating-system crash
may lose the last seconds (as with the instances written straight to the prearchive before).
"""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import io
import itertools
import logging
import os
import secrets
import select
import shutil
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from django.db import DatabaseError, close_old_connections
from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from anonymize.dicomedit.errors import ScriptRuntimeError
from dicom_receiver import folders
from dicom_receiver.folders import queue_dir, work_root
from dicom_receiver.quarantine import quarantine, read_arrival
from dicomio import dimse
from prearchive import intake
from prearchive.ingest import IngestContext, ReceiverInfo, ingest_instances
from xnatlite import heartbeats, layout
from xnatlite.cache import TimedCache
from xnatlite.errors import InvalidDicom, XnatliteError

log = logging.getLogger("xnatlite.receiver")

BATCH_SIZE = 64  # instances per batch: one transaction each (bench/receiver.py)
BATCH_BYTES = 256 << 20  # and at most this many bytes of instances
IDLE_WAIT_MIN, IDLE_WAIT_MAX = 0.002, 0.1  # a worker with nothing to do looks again after this long
MIN_CLAIM = 8  # a worker claims half of what waits (so the others get the rest), at least this many
RECOVER_SECONDS = 5.0  # how often a worker looks for the folders of dead workers
RECEIVER_CACHE_SECONDS = 5.0  # a receiver's configuration applies to its instances within this long
FAILURE_WAIT = 2.0  # after a failure on our side (database, disk), before trying again
MAX_ATTEMPTS = 3  # an instance whose processing failed this often (a bug, a crash) is quarantined

_names = itertools.count(1)


# --- blank files ----------------------------------------------------------------------------------
class _Blanks:
    """A worker's processed spool files, emptied, waiting to become the prearchive files of the next
    instances it processes, so that processing creates no file (`dicomfiles.reuse_empty_files`).

    Creating a file cost 0.6-1 ms of kernel time on the benchmark machine, renaming one 0.02 ms. Every
    instance needs one new file that stays (the receiver creates its spool file); a processed spool
    file is emptied and kept in the worker's `blank/` folder (up to BLANKS_KEPT of them) instead of
    being deleted, then written and renamed into the prearchive. The worker both fills and empties its
    folder, so it stays stocked however far the senders are ahead, and no other process competes for
    its files (a shared folder cost a failed rename per instance). A dead worker's blanks go with its
    folder.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir()
        self.names: deque[str] = deque()

    def take(self) -> Path | None:
        """An empty file to write a prearchive file into (and rename into place); None when there is none."""
        return self.folder / self.names.popleft() if self.names else None

    def keep(self, paths: list[Path]) -> None:
        """Empty processed spool files and keep them (the ones beyond BLANKS_KEPT are deleted).

        Emptied through an open file, closed at once: ext4 writes back a file truncated to nothing
        when it is next closed (auto_da_alloc), which costs nothing while it is empty and 30-60 us
        once the next instance is written into it."""
        room = max(0, BLANKS_KEPT - len(self.names))
        for path in paths[:room]:
            os.close(os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC))
            name = f"{next(_names)}"
            os.rename(path, self.folder / name)
            self.names.append(name)
        for path in paths[room:]:
            path.unlink()


BLANKS_KEPT = 2 * BATCH_SIZE  # a worker writes at most a batch before it keeps one


# --- the workers ---------------------------------------------------------------------------------
class QueueWatch:
    """Wakes an idle worker the moment an instance is queued (Linux inotify, through inotify_simple),
    instead of the worker polling the queue: a worker idle for a while would otherwise start on a new
    association's first instances up to IDLE_WAIT_MAX late. Where inotify is missing, `wait` just
    sleeps (polling). Kept because it measured more than 10 % on the full path (bench/RESULTS.md).
    """

    def __init__(self, folder: Path):
        self.inotify: INotify | None = None
        try:
            inotify = INotify(nonblocking=True)
        except OSError:  # no inotify here
            return
        try:
            inotify.add_watch(folder, inotify_flags.MOVED_TO)
        except OSError:
            inotify.close()
            return
        self.inotify = inotify

    def drain(self) -> None:
        """Forget the events so far (call before looking at the queue, then `wait`)."""
        if self.inotify is not None:
            self.inotify.read(timeout=0)

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Until an instance is queued after the last `drain`, `stop` is set, or `timeout` passed."""
        if self.inotify is None:
            stop.wait(timeout)
            return
        select.select([self.inotify], [], [], timeout)

    def close(self) -> None:
        if self.inotify is not None:
            self.inotify.close()
            self.inotify = None


@dataclass
class BatchReport:
    stored: int = 0
    rejected: int = 0
    quarantined: int = 0
    left: int = 0  # failed on our side (database, disk) or for a reason to retry: still in the folder


def _transient(exc: BaseException) -> bool:
    """A failure on our side, which retrying later may cure, rather than something wrong with the data."""
    if isinstance(exc, DatabaseError):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return f"the site script failed: {message}" if isinstance(exc, ScriptRuntimeError) else message


class Worker:
    """One member of the processing pool: claims batches from the queue and ingests them.

    Its folder `work/{id}/` holds the batch it claimed and a journal of the prearchive files the batch
    wrote; its lock file stays locked (flock) as long as the process lives, which is how other workers
    tell a dead worker's folder from a busy one.
    """

    def __init__(self, batch_size: int = BATCH_SIZE):
        self.batch_size = batch_size
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.folder = work_root() / self.id
        self.folder.mkdir()
        self._lock = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.journal = self.folder / "journal"
        self.blanks = _Blanks(self.folder / "blank")
        self.listing: deque[str] = deque()
        self.failures: dict[str, int] = {}
        self.last_recovery = 0.0

    def claim(self) -> list[str]:
        """Move the oldest queued instances into this worker's folder: half of what waits (the other
        workers share the rest, so that none is left idle while one works through a long batch), at
        least MIN_CLAIM and at most a batch."""
        claimed, size = [], 0
        queue = queue_dir()
        for _ in range(2):
            if not self.listing:
                self.listing.extend(sorted(n for n in os.listdir(queue) if n.endswith(".dcm")))
            limit = min(self.batch_size, max(MIN_CLAIM, (len(self.listing) + 1) // 2))
            while self.listing and len(claimed) < limit and size < BATCH_BYTES:
                name = self.listing.popleft()
                try:
                    os.rename(queue / name, self.folder / name)
                    size += os.stat(self.folder / name).st_size
                except FileNotFoundError:
                    continue  # another worker took it
                claimed.append(name)
            if claimed:
                break
        return claimed

    def process(self, names: list[str]) -> BatchReport:
        """Ingest a claimed batch: each instance ends stored, rejected, quarantined, or left in the
        folder for `give_back` when our side failed."""
        report = BatchReport()
        arrivals = {name: read_arrival(self.folder / name) for name in names}
        items = [
            (self.folder / name, IngestContext(source="dicom", receiver=_receiver_info(arrivals[name])))
            for name in names
        ]
        with open(self.journal, "a", buffering=1) as journal:

            def before_write(index: int, target: str) -> None:
                journal.write(f"{names[index]}\t{target}\n")

            outcomes = ingest_instances(items, before_write=before_write)
        done = []
        for name, outcome in zip(names, outcomes, strict=True):
            path = self.folder / name
            if not isinstance(outcome, Exception):
                report.rejected += outcome.rejected
                report.stored += not outcome.rejected
                done.append(path)
                self.failures.pop(name, None)
            elif _transient(outcome):
                log.error("processing %s failed on our side (%s); it stays in the spool", name, outcome)
                report.left += 1
            elif isinstance(outcome, (InvalidDicom, ScriptRuntimeError, XnatliteError)):
                self._quarantine(path, _describe(outcome), arrivals[name], report)
            else:
                log.error("processing %s failed", name, exc_info=outcome)
                failures = self.failures[name] = self.failures.get(name, 0) + 1
                if failures >= MAX_ATTEMPTS:
                    reason = f"processing failed {failures} times: {_describe(outcome)}"
                    self._quarantine(path, reason, arrivals[name], report)
                else:
                    report.left += 1
        self.blanks.keep(done)
        if not report.left:
            os.truncate(self.journal, 0)
        return report

    def _quarantine(self, path: Path, reason: str, arrival, report: BatchReport) -> None:
        quarantine(path, reason, arrival)
        report.quarantined += 1
        self.failures.pop(path.name, None)

    def give_back(self) -> int:
        """Queue again what a failed batch left here, removing the files it wrote but did not record."""
        return _give_back(self.folder, count_attempt=False)

    def holds_leftovers(self) -> bool:
        return any(name.endswith(".dcm") for name in os.listdir(self.folder))

    def recover_dead_workers(self) -> int:
        """Queue again the batches of workers that died; returns how many instances were queued."""
        self.last_recovery = time.monotonic()
        requeued = 0
        for folder in work_root().iterdir():
            if folder != self.folder and folder.is_dir():
                requeued += recover_folder(folder)
        return requeued

    def close(self) -> None:
        """Remove this worker's folder (after `give_back`, nothing is left in it)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        os.close(self._lock)


def _journal_entries(folder: Path) -> dict[str, set[str]]:
    """{spooled instance still in the folder: the prearchive files its batch wrote for it}."""
    journal = folder / "journal"
    if not journal.exists():
        return {}
    written: dict[str, set[str]] = {}
    for line in journal.read_text(errors="replace").splitlines():
        name, _, target = line.partition("\t")
        if target and (folder / name).exists():
            written.setdefault(name, set()).add(target)
    return written


def _give_back(folder: Path, *, count_attempt: bool) -> int:
    """Settle a batch that did not finish: instances whose rows were committed are done; for the others
    the files the batch wrote that no row records are removed, and the instances queued again.

    A file a row records stays: it is an earlier copy's, or was recorded before the batch stopped.
    """
    from prearchive.models import PrearchiveFile

    written = _journal_entries(folder)
    targets = set().union(*written.values()) if written else set()
    recorded = set(PrearchiveFile.objects.filter(path__in=targets).values_list("path", flat=True))
    for target in targets:
        try:
            path = layout.absolute_path(target)
        except XnatliteError:  # a journal line naming something outside the data root
            continue
        if target not in recorded:
            path.unlink(missing_ok=True)
        for temporary in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # a write cut short
            temporary.unlink(missing_ok=True)
    requeued = 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".dcm"):
            continue
        if written.get(name, set()) & recorded:
            (folder / name).unlink()  # its rows were committed; only the deletion was missing
            continue
        tries = folders.attempts(name) + count_attempt
        if count_attempt and tries >= MAX_ATTEMPTS:
            quarantine(folder / name, f"the worker processing it died {tries} times")
            continue
        os.rename(
            folder / name, queue_dir() / (folders.with_attempts(name, tries) if count_attempt else name)
        )
        requeued += 1
    (folder / "journal").unlink(missing_ok=True)
    return requeued


def recover_folder(folder: Path) -> int:
    """Queue again the instances of a dead worker's folder and remove it; 0 if its worker still lives."""
    try:
        lock = os.open(folder / ".lock", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        lock = None  # a worker that died before locking its folder
    try:
        if lock is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # alive
        elif time.time() - folder.stat().st_mtime < RECOVER_SECONDS:
            return 0  # just being created
        requeued = _give_back(folder, count_attempt=True)
        if requeued:
            log.warning("queued %d instances of dead spool worker %s again", requeued, folder.name)
        shutil.rmtree(folder, ignore_errors=True)
        return requeued
    finally:
        if lock is not None:
            os.close(lock)


def _load_receiver(key: tuple[str, int]) -> ReceiverInfo | None:
    """How ingest sees the receiver `(called AE title, port)` as configured now; None when it is gone."""
    from dicom_receiver.models import Receiver

    config = Receiver.objects.filter(ae_title=key[0], port=key[1]).first()
    if config is None:
        log.warning("receiver %s:%s is gone; processing its instance without its rules", *key)
        return None
    return ReceiverInfo(config.ae_title, routing=config.routing, anonymize=config.anonymization_enabled)


_receivers = TimedCache(_load_receiver, seconds=RECEIVER_CACHE_SECONDS)


def _receiver_info(arrival: dimse.Arrival | None) -> ReceiverInfo | None:
    """The ingest ReceiverInfo of an instance: its receiver's configuration as it is now (cached 5 s);
    None for a file without arrival (then routing has no receiver rules and the site script applies)."""
    if arrival is None:
        return None
    configured = _receivers.get((arrival.called_ae, arrival.port))
    if configured is None:
        return ReceiverInfo(arrival.called_ae, arrival.calling_ae, arrival.peer_address)
    return dataclasses.replace(configured, calling_ae=arrival.calling_ae, address=arrival.peer_address)


def warm_up() -> None:
    """Load what processing needs before the first instance arrives: a cold worker took ten times as
    long over its first batch as over the next (imports, the site script compiled, caches filled)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    from anonymize import services as anonymize_services
    from dicomio import files as dicomfiles
    from prearchive import ingest, instances

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDescription = "WARM^UP", "WARMUP", "WARMUP"
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20000101", 1, 1
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    ds = dicomfiles.read_instance(buffer)
    found = ingest.route(ds, ingest.IngestContext(source="dicom"))
    site = anonymize_services.site_script_for_ingest()
    if site is not None:
        site[0].apply(
            ds,
            {"project": "Unassigned", "subject": found.subject, "session": found.session},
            record=site[1],
            services=anonymize_services.site_script_services(),
        )
    dicomfiles.prepare_meta(ds, "WARMUP")
    dicomfiles.encode_instance(ds)
    instances.file_fields(ds, layout.data_root(), 0, "", "1", "x")


def run_worker(stop: threading.Event, *, batch_size: int = BATCH_SIZE) -> None:
    """Process the spool until `stop` is set (finishing the batch in hand). A worker process ends with
    the process that started it (`manage.py dicom_receiver --parent`, xnatlite/processes.py)."""
    from dicomio import files as dicomfiles

    worker = Worker(batch_size)
    watch = QueueWatch(queue_dir())
    shutil.rmtree(
        intake.spool_root() / "blank", ignore_errors=True
    )  # the shared blank files of before 2026-12-04
    prearchive = layout.prearchive_root()
    prearchive.mkdir(parents=True, exist_ok=True)
    if os.stat(prearchive).st_dev == os.stat(worker.folder).st_dev:  # renamed there, not copied
        dicomfiles.reuse_empty_files(worker.blanks.take)
    try:
        close_old_connections()
        warm_up()
    except Exception:  # the first batch will tell what is wrong
        log.exception("warming up the spool worker failed")
    wait = IDLE_WAIT_MIN
    try:
        while not stop.is_set():
            try:
                if worker.holds_leftovers():
                    close_old_connections()
                    worker.give_back()
                if time.monotonic() - worker.last_recovery > RECOVER_SECONDS:
                    close_old_connections()
                    worker.recover_dead_workers()
                    heartbeats.beat("spool-worker")
                names = worker.claim()
                if not names:
                    watch.drain()
                    names = worker.claim()  # what was queued between the first look and the drain
                if not names:
                    watch.wait(stop, wait)
                    wait = min(wait * 2, IDLE_WAIT_MAX)
                    continue
                wait = IDLE_WAIT_MIN
                if worker.process(names).left:
                    stop.wait(FAILURE_WAIT)
            except Exception:
                log.exception("the spool worker failed; trying again in %.0f s", FAILURE_WAIT)
                stop.wait(FAILURE_WAIT)
    finally:
        try:
            if worker.holds_leftovers():
                close_old_connections()
                worker.give_back()
            worker.close()
        except Exception:  # the folder stays: the next worker recovers it
            log.exception("the spool worker could not give back its batch")
        watch.close()
        dicomfiles.reuse_empty_files(None)
        close_old_connections()
