"""The receiver's spool: quarantine for what turns out unusable after it was acknowledged, the dead
worker's batch taken over exactly once, the idle builder waiting for spooled instances, blank files."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from datetime import timedelta

import pydicom
from django.db.models import F
from django.utils import timezone

from anonymize import services as anonymize_services
from dicom_receiver import folders, spool
from dicom_receiver.models import QuarantinedInstance
from dicomio import dimse
from prearchive import intake, sweep
from prearchive.ingest import IngestContext, ingest_file
from prearchive.models import PrearchiveFile, PrearchiveSession, Status
from prearchive.sweep import build_idle_sessions
from tests.dicomgen import echo, make_study, send_datasets
from tests.sessions import encode
from xnatlite import cache, layout
from xnatlite.models import AuditEvent

FAILING_SCRIPT = 'version "6.3"\n(0028,0010) := "abc"\n'


def test_a_failing_site_script_quarantines_what_was_acknowledged(receiver, project_a, root, alice, client):
    anonymize_services.save_site_script(FAILING_SCRIPT, enabled=True, by=root)
    cache.forget_all()
    study = make_study(n_instances=2, study_description="A")
    assert send_datasets(receiver.port, study) == [0, 0]  # acknowledged once in the spool
    receiver.wait_processed()

    assert not PrearchiveSession.objects.exists() and not PrearchiveFile.objects.exists()
    rows = list(QuarantinedInstance.objects.order_by("file_name"))
    assert len(rows) == 2
    for row in rows:
        assert (row.receiver_ae, row.calling_ae, row.peer_address) == ("XNATLITE", "TESTSCU", "127.0.0.1")
        assert "site script failed" in row.reason and "(0028,0010)" in row.reason
        kept = pydicom.dcmread(folders.quarantine_dir() / row.file_name)
        assert kept.SOPInstanceUID in {ds.SOPInstanceUID for ds in study}  # kept exactly as received
        assert row.size == (folders.quarantine_dir() / row.file_name).stat().st_size
    assert AuditEvent.objects.filter(action="receiver.instance.quarantined").count() == 2
    assert echo(receiver.port) == 0  # still serving

    # a site admin sees them in Django admin; nobody else does
    client.force_login(alice)
    assert client.get("/admin/dicom_receiver/quarantinedinstance/").status_code == 302
    client.force_login(root)
    page = client.get("/admin/dicom_receiver/quarantinedinstance/").content.decode()
    assert "site script failed" in page and "TESTSCU" in page

    # the site script is fixed, and the site admin processes them again
    anonymize_services.save_site_script('version "6.3"\n', enabled=True, by=root)
    cache.forget_all()
    response = client.post(
        "/admin/dicom_receiver/quarantinedinstance/",
        {"action": "process_again", "_selected_action": [rows[0].pk]},
    )
    assert response.status_code == 302
    receiver.wait_processed()
    assert (
        PrearchiveFile.objects.get().sop_instance_uid
        == pydicom.dcmread(PrearchiveFile.objects.get().absolute_path).SOPInstanceUID
    )
    assert list(QuarantinedInstance.objects.values_list("pk", flat=True)) == [rows[1].pk]
    assert AuditEvent.objects.filter(action="receiver.instance.requeued", actor_name="root").count() == 1

    client.post(
        "/admin/dicom_receiver/quarantinedinstance/",
        {"action": "delete_for_good", "_selected_action": [rows[1].pk]},
    )
    assert not QuarantinedInstance.objects.exists()
    assert list(folders.quarantine_dir().iterdir()) == []
    assert AuditEvent.objects.filter(action="receiver.instance.deleted").count() == 1


def spool_instance(tmp_path, ds, name: str) -> str:
    """Put `ds` in the spool queue as the receiver does (meta naming sender and receiver)."""
    body = tmp_path / "body.dcm"
    ds.save_as(body, enforce_file_format=True)
    data = body.read_bytes()
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    arrival = dimse.Arrival("SCANNER1", "XNATLITE", "10.0.0.1", 104)
    meta = dimse.file_meta(ds.SOPClassUID, ds.SOPInstanceUID, ds.file_meta.TransferSyntaxUID, arrival)
    (folders.queue_dir() / name).write_bytes(meta + data[meta_end:])
    return name


def dead_worker(tmp_path, names: list[str]):
    """A worker's folder holding `names`, as a worker killed mid-batch leaves it (its lock is free)."""
    folder = folders.work_root() / "deadhost-1-abc"
    folder.mkdir()
    (folder / ".lock").touch()
    for name in names:
        os.rename(folders.queue_dir() / name, folder / name)
    return folder


def test_a_dead_workers_batch_is_taken_over_exactly_once(transactional_db, project_a, tmp_path):
    study = make_study(n_instances=3, study_description="A")
    names = [spool_instance(tmp_path, ds, f"{time.time_ns()}-1-{n}.dcm") for n, ds in enumerate(study)]
    # the dead batch had recorded the first instance (its commit happened, not the spool deletion),
    # written the second without its row, and not reached the third
    first = ingest_file(folders.queue_dir() / names[0], IngestContext(source="dicom"))
    second = ingest_file(folders.queue_dir() / names[1], IngestContext(source="dicom"))
    unrecorded = second.file.absolute_path
    second.file.delete()  # as if its batch had died before recording it
    PrearchiveSession.objects.filter(pk=second.session.pk).update(
        file_count=F("file_count") - 1, total_size=F("total_size") - second.file.size
    )
    folder = dead_worker(tmp_path, names)
    (unrecorded.parent / f".{unrecorded.name}.99.1.tmp").write_bytes(b"half")  # a write cut short
    (folder / "journal").write_text(f"{names[0]}\t{first.file.path}\n{names[1]}\t{second.file.path}\n")

    assert spool.recover_folder(folder) == 2
    assert not folder.exists()
    assert first.file.absolute_path.exists() and not unrecorded.exists()
    assert not list(unrecorded.parent.glob("*.tmp"))
    # the two undone instances are queued again, counting the attempt
    assert sorted(p.name for p in folders.queue_dir().iterdir()) == [
        names[1].replace(".dcm", "~1.dcm"),
        names[2].replace(".dcm", "~1.dcm"),
    ]
    worker = spool.Worker()
    report = worker.process(worker.claim())
    worker.close()
    assert (report.stored, report.left, report.quarantined) == (2, 0, 0)
    session = PrearchiveSession.objects.get()
    assert (session.file_count, PrearchiveFile.objects.count()) == (3, 3)
    assert sorted(PrearchiveFile.objects.values_list("instance_number", flat=True)) == [1, 2, 3]


def test_a_live_workers_batch_is_left_alone(transactional_db, tmp_path):
    name = spool_instance(tmp_path, make_study(n_instances=1)[0], f"{time.time_ns()}-1-1.dcm")
    folder = dead_worker(tmp_path, [name])
    lock = os.open(folder / ".lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # the worker still lives
    try:
        assert spool.recover_folder(folder) == 0
        assert (folder / name).exists()
    finally:
        os.close(lock)


def test_an_instance_whose_worker_died_three_times_is_quarantined(transactional_db, tmp_path):
    name = spool_instance(tmp_path, make_study(n_instances=1)[0], f"{time.time_ns()}-1-1~2.dcm")
    folder = dead_worker(tmp_path, [name])
    assert spool.recover_folder(folder) == 0
    row = QuarantinedInstance.objects.get()
    assert "died 3 times" in row.reason and (row.receiver_ae, row.calling_ae) == ("XNATLITE", "SCANNER1")
    assert (folders.quarantine_dir() / row.file_name).exists() and row.file_name == name.replace("~2", "")


def test_the_builder_leaves_sessions_alone_while_instances_received_before_it_wait(
    transactional_db, project_a, tmp_path, monkeypatch
):
    monkeypatch.setattr(sweep, "SPOOL_WAIT_SECONDS", 0.2)
    study = make_study(n_instances=2, study_description="A")
    session = ingest_file(encode(study[0]), IngestContext(source="dicom")).session
    spool_instance(tmp_path, study[1], f"{time.time_ns()}-1-1.dcm")  # its second instance, acknowledged
    later = timezone.now() + timedelta(days=1)
    assert build_idle_sessions(now=later).ready == []
    session.refresh_from_db()
    assert session.status == Status.RECEIVING

    worker = spool.Worker()
    worker.process(worker.claim())
    worker.close()
    assert build_idle_sessions(now=later).ready == [session.pk]
    session.refresh_from_db()
    assert (session.status, session.file_count) == (Status.READY, 2)


def test_processed_spool_files_become_the_files_of_the_next_instances(receiver, project_a):
    assert send_datasets(receiver.port, make_study(n_instances=3, study_description="A")) == [0, 0, 0]
    receiver.wait_processed()
    blanks = sorted(folders.work_root().glob("*/blank/*"))  # the worker's
    # one to three: a batch after the first may already have written into the first one's spool file
    assert 1 <= len(blanks) <= 3 and all(p.stat().st_size == 0 for p in blanks)
    inodes = {p.stat().st_ino for p in blanks}
    study = make_study(n_instances=len(blanks), study_description="A", patient_id="SECOND")
    assert send_datasets(receiver.port, study) == [0] * len(blanks)
    receiver.wait_processed()
    # the second study's prearchive files are those emptied files, rewritten: processing created none
    second = PrearchiveFile.objects.filter(session__label="SECOND")
    assert {layout.absolute_path(f.path).stat().st_ino for f in second} == inodes
    assert len(second) == len(study)
    for row in second:  # whole, readable instances with the site script applied, not the old bytes
        ds = pydicom.dcmread(layout.absolute_path(row.path))
        assert ds.SOPInstanceUID == row.sop_instance_uid and ds.PatientIdentityRemoved == "YES"
        assert len(ds.PixelData) == ds.Rows * ds.Columns * 2
    assert PrearchiveFile.objects.count() == 3 + len(blanks)


def test_a_worker_keeps_its_blanks_in_its_own_folder_and_removes_the_old_shared_one(transactional_db):
    legacy = intake.spool_root() / "blank"  # where every worker shared its blank files until 2026-12-04
    legacy.mkdir(parents=True)
    (legacy / "1-2-3").write_bytes(b"")
    stop = threading.Event()
    stop.set()  # start, then stop at once
    spool.run_worker(stop)
    assert not legacy.exists()
    assert list(folders.work_root().iterdir()) == []  # its own folder, blanks and all, went when it stopped


def test_workers_share_what_waits_instead_of_one_taking_a_whole_batch(transactional_db):
    for n in range(20):
        (folders.queue_dir() / f"{time.time_ns()}-1-{n}.dcm").write_bytes(b"x")
    first, second, third = spool.Worker(), spool.Worker(), spool.Worker()
    try:
        assert len(first.claim()) == 10  # half of what waits
        assert len(second.claim()) == spool.MIN_CLAIM  # half of the 10 left is less than the minimum
        assert len(third.claim()) == 2
        assert not os.listdir(folders.queue_dir())
        for n in range(300):
            (folders.queue_dir() / f"{time.time_ns()}-1-{n}.dcm").write_bytes(b"x")
        assert len(first.claim()) == spool.BATCH_SIZE  # never more than a batch
    finally:
        for worker in (first, second, third):
            worker.close()


def test_an_idle_worker_wakes_as_soon_as_an_instance_is_queued(transactional_db, tmp_path):
    watch = spool.QueueWatch(folders.queue_dir())
    assert watch.inotify is not None  # Linux: inotify
    stop = threading.Event()
    try:
        watch.drain()
        waiter = threading.Thread(target=watch.wait, args=(stop, 60.0))
        waiter.start()
        (tmp_path / "x.dcm").write_bytes(b"x")
        os.rename(tmp_path / "x.dcm", folders.queue_dir() / f"{time.time_ns()}-1-1.dcm")  # as commit does
        waiter.join(30)
        assert not waiter.is_alive()  # woken by the instance, long before its 60 s
    finally:
        stop.set()
        watch.close()


def test_without_inotify_an_idle_worker_polls(transactional_db, tmp_path):
    watch = spool.QueueWatch(tmp_path / "missing")  # nothing to watch: the polling fallback
    assert watch.inotify is None
    stop = threading.Event()
    waiter = threading.Thread(target=watch.wait, args=(stop, 60.0))
    waiter.start()
    stop.set()  # a stopping worker is not kept waiting
    waiter.join(30)
    assert not waiter.is_alive()
    watch.drain()
    watch.close()
