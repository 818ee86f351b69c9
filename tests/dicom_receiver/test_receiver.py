"""The receiver over real loopback associations: pynetdicom is the sending side (xnat-spec.md §5)."""

from __future__ import annotations

import errno
import os
import socket
import threading
from datetime import timedelta

import pydicom
import pytest
from django.utils import timezone
from pydicom.uid import generate_uid
from pynetdicom import AE, _config, evt

from anonymize import services as anonymize_services
from dicom_receiver import folders, incoming, spool
from dicom_receiver.models import QuarantinedInstance, Receiver
from dicomio import files as dicomfiles
from prearchive import intake
from prearchive.models import PrearchiveFile, PrearchiveSession, SiteRoutingRules, Status
from prearchive.sweep import build_idle_sessions
from tests.dicomgen import echo, make_instance, make_study, pydicom_test_file, send_datasets
from tests.waiting import TIMEOUT, wait_for
from xnatlite import cache, layout
from xnatlite.models import AuditEvent

LABEL_SCRIPT = 'version "6.3"\n(0008,1030) := project\n(0010,0010) := subject\n(0010,0020) := session\n'


def prearchive_files() -> list:
    return sorted(p for p in layout.prearchive_root().rglob("*") if p.is_file())


def spool_files() -> list:
    """The instances in the spool: arriving, queued, in a worker's batch or quarantined."""
    root = intake.spool_root()
    return sorted(
        [
            *root.glob("receiving/*"),
            *root.glob("queue/*"),
            *root.glob("work/*/*.dcm"),
            *root.glob("quarantine/*"),
        ]
    )


def test_it_answers_c_echo_and_rejects_unknown_called_ae_titles(receiver):
    assert echo(receiver.port) == 0x0000
    assert echo(receiver.port, called_ae="NOBODY") is None
    with pytest.raises(ConnectionError):
        send_datasets(receiver.port, make_study(), called_ae="NOBODY")
    assert not PrearchiveSession.objects.exists()


def test_it_stores_a_study_in_the_prearchive_layout(receiver, project_a):
    study = make_study(
        n_series=2, n_instances=3, study_description="A", patient_name="DOE^JOHN", patient_id="P001"
    )
    assert send_datasets(receiver.port, study) == [0x0000] * 6
    receiver.wait_processed()

    session = PrearchiveSession.objects.get()
    assert (session.project_id, session.label, session.folder_name, session.subject_label) == (
        "A",
        "P001",
        "P001",
        "DOE_JOHN",
    )
    assert (session.status, session.file_count, session.scan_count) == (Status.RECEIVING, 6, 2)
    assert (session.source, session.receiver_ae, session.prevent_anon) == ("dicom", "XNATLITE", False)
    assert session.calling_ae == "TESTSCU"  # who sent it, shown in the prearchive (issue 15)
    assert session.folder == layout.prearchive_root() / "A" / session.timestamp / "P001"
    files = list(PrearchiveFile.objects.filter(session=session).order_by("scan_id", "instance_number"))
    assert [(f.scan_id, f.instance_number) for f in files] == [(s, i) for s in "12" for i in (1, 2, 3)]
    assert session.total_size == sum(f.size for f in files)
    assert prearchive_files() == sorted(f.absolute_path for f in files)
    for f in files:
        assert f.path.startswith(f"prearchive/A/{session.timestamp}/P001/SCANS/{f.scan_id}/DICOM/")
        stored = pydicom.dcmread(f.absolute_path)
        assert stored.SOPInstanceUID == f.sop_instance_uid
        assert f.md5 and f.size == f.absolute_path.stat().st_size
        # the default site script ran: UIDs remapped to 2.25, its record added, review fields kept
        assert stored.SOPInstanceUID.startswith("2.25.")
        assert stored.StudyInstanceUID == session.study_instance_uid
        assert stored.SOPInstanceUID not in {ds.SOPInstanceUID for ds in study}
        assert "DeidentificationMethodCodeSequence" in stored
        assert (str(stored.PatientName), stored.PatientID) == ("DOE^JOHN", "P001")
        assert stored.file_meta.SourceApplicationEntityTitle == "TESTSCU"
    audit = AuditEvent.objects.get(action="prearchive.session.created")
    assert (audit.actor_name, audit.project_id) == ("receiver:XNATLITE", "A")


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "rtplan.dcm",
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "JPEG-lossy.dcm",
        "MR_small_bigendian.dcm",
        "rtdose.dcm",
        "image_dfl.dcm",
    ],
)
def test_it_stores_pydicom_bundled_files_as_received_when_anonymization_is_off(receiver, name):
    Receiver.objects.filter(pk=receiver.receiver.pk).update(anonymization_enabled=False)
    receiver.wait_reloaded()
    path = pydicom_test_file(name)
    assert send_datasets(receiver.port, [path]) == [0x0000]
    receiver.wait_processed()
    session = PrearchiveSession.objects.get()
    assert session.prevent_anon is True
    assert session.project_id is None  # nothing in these files names a project: Unassigned
    stored_file = PrearchiveFile.objects.get()
    assert stored_file.path.startswith(f"prearchive/{session.timestamp}/{session.folder_name}/SCANS/")
    sent, stored = pydicom.dcmread(path), pydicom.dcmread(stored_file.absolute_path)
    assert stored.SOPInstanceUID == sent.SOPInstanceUID
    assert stored.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
    assert stored.get("PixelData") == sent.get("PixelData")
    assert "DeidentificationMethodCodeSequence" not in stored


def test_the_site_script_runs_with_the_routed_labels(receiver, project_a, root):
    anonymize_services.save_site_script(LABEL_SCRIPT, enabled=True, by=root)
    cache.forget_all()
    study = make_study(n_instances=2, patient_comments="Project: A Subject: S01 Session: S01_MR1")
    assert send_datasets(receiver.port, study) == [0, 0]
    receiver.wait_processed()
    session = PrearchiveSession.objects.get()
    assert (session.project_id, session.subject_label, session.label) == ("A", "S01", "S01_MR1")
    for row in PrearchiveFile.objects.all():
        stored = pydicom.dcmread(row.absolute_path)
        assert (stored.StudyDescription, str(stored.PatientName), stored.PatientID) == ("A", "S01", "S01_MR1")
        # this script keeps UIDs: the rows name the instances as sent
        assert row.sop_instance_uid in {ds.SOPInstanceUID for ds in study}


def test_unassigned_data_gets_unassigned_as_the_script_project(receiver, root):
    anonymize_services.save_site_script(LABEL_SCRIPT, enabled=True, by=root)
    cache.forget_all()
    assert send_datasets(receiver.port, make_study(n_instances=1, patient_id="")) == [0]
    receiver.wait_processed()
    session = PrearchiveSession.objects.get()
    assert (session.project_id, session.label) == (None, "dicom_upload")
    stored = pydicom.dcmread(PrearchiveFile.objects.get().absolute_path)
    assert (stored.StudyDescription, stored.PatientID) == ("Unassigned", "dicom_upload")


def test_a_reject_in_the_site_script_drops_the_instance_and_answers_success(receiver, project_a, root):
    script = 'version "6.3"\n(0008,103E) = "LOCALIZER" ? reject\n'
    anonymize_services.save_site_script(script, enabled=True, by=root)
    cache.forget_all()
    study = make_study(n_series=2, n_instances=1, study_description="A")
    study[0].SeriesDescription = "LOCALIZER"
    assert send_datasets(receiver.port, study) == [0, 0]
    receiver.wait_processed()
    assert PrearchiveFile.objects.count() == 1
    assert PrearchiveFile.objects.get().series_description == study[1].SeriesDescription


def test_routing_by_receiver_expressions_and_site_rules_over_the_network(receiver, project_a, project_d):
    # the receiver's expression wins over the site rule, which wins over the Study Description
    Receiver.objects.filter(pk=receiver.receiver.pk).update(project_routing=r"(0008,0050):ACC-(\w+)")
    SiteRoutingRules.objects.create(
        project_rules=r"(0008,1030):Study of (\w+)", subject_rules=r"(0010,0020):(\w+)-.*"
    )
    cache.forget_all()
    receiver.wait_reloaded()
    both = make_study(n_instances=1, accession="ACC-A", study_description="Study of D", patient_id="SUBJ-1")
    site_only = make_study(n_instances=1, accession="none", study_description="Study of D", patient_id="X-2")
    fields_only = make_study(n_instances=1, study_description="D", patient_id="P3")
    assert send_datasets(receiver.port, both + site_only + fields_only) == [0, 0, 0]
    receiver.wait_processed()
    routed = {(s.project_id, s.subject_label, s.label) for s in PrearchiveSession.objects.all()}
    assert routed == {
        ("A", "SUBJ", "SUBJ-1"),
        ("D", "X", "X-2"),
        ("D", "SUBJ_001", "P3"),
    }  # dicomgen's default Patient Name


def test_a_second_ae_title_on_the_same_port_works_without_a_restart(receiver, project_a, project_d):
    assert echo(receiver.port, called_ae="PROJD") is None
    Receiver.objects.create(
        ae_title="PROJD", port=receiver.port, project_routing=r"(0010,0020):.*:0 t:^.*$ r:D"
    )
    receiver.wait_reloaded()
    assert echo(receiver.port, called_ae="PROJD") == 0
    assert send_datasets(
        receiver.port, make_study(n_instances=1, study_description="A"), called_ae="PROJD"
    ) == [0]
    assert send_datasets(receiver.port, make_study(n_instances=1, study_description="A")) == [0]
    receiver.wait_processed()
    assert sorted(PrearchiveSession.objects.values_list("project_id", "receiver_ae")) == [
        ("A", "XNATLITE"),
        ("D", "PROJD"),
    ]
    Receiver.objects.filter(ae_title="PROJD").update(enabled=False)
    receiver.wait_reloaded()
    assert echo(receiver.port, called_ae="PROJD") is None
    assert echo(receiver.port) == 0


def test_the_whitelist_rejects_other_senders(receiver, project_a):
    Receiver.objects.filter(pk=receiver.receiver.pk).update(whitelist="GOODSCU\nOTHER@10.0.0.0/8")
    receiver.wait_reloaded()
    study = make_study(n_instances=1, study_description="A")
    with pytest.raises(ConnectionError):
        send_datasets(receiver.port, study, calling_ae="TESTSCU")
    assert send_datasets(receiver.port, study, calling_ae="GOODSCU") == [0]
    with pytest.raises(ConnectionError):
        send_datasets(receiver.port, study, calling_ae="OTHER")  # right title, wrong address
    receiver.wait_processed()
    assert PrearchiveFile.objects.count() == 1


def test_a_resent_instance_replaces_the_first_copy(receiver, project_a):
    study = make_study(n_instances=3, study_description="A")
    assert send_datasets(receiver.port, study) == [0, 0, 0]
    receiver.wait_processed()
    assert send_datasets(receiver.port, study[:2]) == [0, 0]
    receiver.wait_processed()
    session = PrearchiveSession.objects.get()
    assert (session.file_count, PrearchiveFile.objects.count(), len(prearchive_files())) == (3, 3, 3)
    assert session.total_size == sum(PrearchiveFile.objects.values_list("size", flat=True))


def _raw_instance(tmp_path, name: str, body: bytes, sop_instance_uid: str | None = None):
    """A Part 10 file whose meta is valid and whose data set is `body` (sent as-is by chunked send)."""
    ds = make_study(n_instances=1)[0]
    if sop_instance_uid:
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    path.write_bytes(data[:meta_end] + body)
    return path, data[meta_end:]


def test_non_dicom_and_truncated_payloads_get_c210_and_the_receiver_keeps_serving(
    receiver, project_a, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # send the bytes as they are
    garbage, _ = _raw_instance(tmp_path, "garbage.dcm", b"this is not DICOM at all" * 10)
    _, body = _raw_instance(tmp_path, "good.dcm", b"")
    truncated, _ = _raw_instance(tmp_path, "truncated.dcm", body[: len(body) - 100])
    statuses = send_datasets(receiver.port, [garbage, truncated])
    assert statuses == [0xC210, 0xC210]
    assert "refused an instance" in caplog.text
    assert spool_files() == []  # never acknowledged: not kept anywhere
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", False)
    assert send_datasets(receiver.port, make_study(n_instances=1, study_description="A")) == [0]
    receiver.wait_processed()
    assert PrearchiveFile.objects.count() == 1


def test_an_instance_without_sop_uids_gets_c210(receiver, tmp_path, monkeypatch):
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    ds = make_study(n_instances=1)[0]
    del ds.SOPInstanceUID
    body = pydicom.filebase.DicomBytesIO()
    pydicom.dcmwrite(body, ds, implicit_vr=False, little_endian=True, enforce_file_format=False)
    path, _ = _raw_instance(tmp_path, "nouid.dcm", body.getvalue())
    assert send_datasets(receiver.port, [path]) == [0xC210]
    assert spool_files() == []
    assert not PrearchiveSession.objects.exists()


def test_an_association_cut_mid_instance_leaves_no_partial_file(receiver, project_a):
    small = make_study(n_instances=2, study_description="A")
    big = make_instance(  # 32 MB of pixels, in the same study
        study_instance_uid=small[0].StudyInstanceUID,
        series_instance_uid=generate_uid(),
        series_number=2,
        instance_number=1,
        rows=4096,
        cols=4096,
        study_description="A",
    )
    assert send_datasets(receiver.port, small) == [0, 0]
    receiver.wait_processed()

    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(big.SOPClassUID, big.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="XNATLITE")
    assert assoc.is_established
    cut, sent = threading.Event(), [0]

    def hold_after_two_megabytes(event):  # the sender stops there until the connection is cut
        sent[0] += event.pdu.pdu_length
        if sent[0] > 2_000_000:
            cut.wait(TIMEOUT)

    assoc.bind(evt.EVT_PDU_SENT, hold_after_two_megabytes)
    result = {}
    sender = threading.Thread(target=lambda: result.setdefault("status", assoc.send_c_store(big)))
    sender.start()
    chunks = folders.receiving_dir()
    wait_for(
        lambda: any(p.stat().st_size > 1_000_000 for p in chunks.glob("*.part")),
        what="the instance to start arriving",
    )
    assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)  # the connection drops mid-instance
    cut.set()
    sender.join(TIMEOUT)
    assert not result.get("status")  # the C-STORE never completed
    wait_for(lambda: spool_files() == [], what="the partial instance to be removed")
    receiver.wait_processed()

    session = PrearchiveSession.objects.get()
    session.refresh_from_db()
    assert (session.file_count, PrearchiveFile.objects.count()) == (2, 2)
    assert prearchive_files() == sorted(f.absolute_path for f in PrearchiveFile.objects.all())
    assert not [p for p in layout.prearchive_root().rglob("*") if p.name.endswith(".tmp")]
    assert echo(receiver.port) == 0
    assert send_datasets(receiver.port, [big]) == [0]
    receiver.wait_processed()
    session.refresh_from_db()
    assert session.file_count == 3


def test_two_associations_sending_one_study_at_once_make_one_session(receiver, project_a):
    study = make_study(n_series=2, n_instances=8, study_description="A")
    results = {}
    barrier = threading.Barrier(3)

    def send(name, datasets):
        barrier.wait()
        results[name] = send_datasets(receiver.port, datasets, calling_ae=name)

    threads = [
        threading.Thread(target=send, args=("SCU1", study)),
        threading.Thread(target=send, args=("SCU2", list(reversed(study)))),
        threading.Thread(target=send, args=("SCU3", study[::2])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {"SCU1": [0] * 16, "SCU2": [0] * 16, "SCU3": [0] * 8}
    receiver.wait_processed()
    session = PrearchiveSession.objects.get()
    assert (session.file_count, session.scan_count) == (16, 2)
    assert PrearchiveFile.objects.count() == 16
    assert len(prearchive_files()) == 16
    assert session.total_size == sum(PrearchiveFile.objects.values_list("size", flat=True))


class _FullDiskOs:
    """The `os` module as a module sees it, with a disk that is full."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def write(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_answers_a700_and_loses_nothing_acknowledged(receiver, project_a, monkeypatch):
    study = make_study(n_instances=4, study_description="A")
    assert send_datasets(receiver.port, study[:2]) == [0, 0]
    receiver.wait_processed()
    kept = {p: p.read_bytes() for p in prearchive_files()}

    monkeypatch.setattr(incoming, "os", _FullDiskOs())  # the spool cannot take the next instances
    assert send_datasets(receiver.port, study[2:]) == [0xA700, 0xA700]
    assert spool_files() == []  # no partial instance left behind
    assert {p: p.read_bytes() for p in prearchive_files()} == kept  # nothing lost
    assert PrearchiveFile.objects.count() == 2

    monkeypatch.setattr(incoming, "os", os)  # space freed: the sender retries
    assert send_datasets(receiver.port, study[2:]) == [0, 0]
    receiver.wait_processed()
    assert PrearchiveSession.objects.get().file_count == 4


def test_a_full_disk_while_processing_keeps_the_instances_spooled_until_there_is_room(
    receiver, project_a, monkeypatch, caplog
):
    monkeypatch.setattr(spool, "FAILURE_WAIT", 0.05)
    monkeypatch.setattr(dicomfiles, "os", _FullDiskOs())  # the prearchive cannot take them
    study = make_study(n_instances=3, study_description="A")
    assert send_datasets(receiver.port, study) == [0, 0, 0]  # acknowledged: they are in the spool
    wait_for(lambda: "failed on our side" in caplog.text, what="the worker to try")
    assert intake.pending_count() == 3
    assert not PrearchiveFile.objects.exists()
    assert not [p for p in prearchive_files() if p.suffix in (".dcm", ".tmp")]  # nothing half written

    monkeypatch.setattr(dicomfiles, "os", os)  # space freed: the worker tries again
    receiver.wait_processed()
    session = PrearchiveSession.objects.get()
    assert (session.file_count, PrearchiveFile.objects.count(), len(prearchive_files())) == (3, 3, 3)
    assert intake.pending_count() == 0 and not QuarantinedInstance.objects.exists()


def test_new_data_for_a_ready_session_reopens_it(receiver, project_a):
    study = make_study(n_instances=3, study_description="A", patient_id="P9")
    assert send_datasets(receiver.port, study[:2]) == [0, 0]
    receiver.wait_processed()
    report = build_idle_sessions(now=timezone.now() + timedelta(days=1))
    session = PrearchiveSession.objects.get()
    assert report.ready == [session.pk] and session.status == Status.READY
    assert send_datasets(receiver.port, study[2:]) == [0]
    receiver.wait_processed()
    session.refresh_from_db()
    assert (session.status, session.file_count) == (Status.RECEIVING, 3)
    assert PrearchiveSession.objects.count() == 1


def test_two_studies_with_one_label_are_two_sessions(receiver, project_a):
    # sessions are matched by (project, StudyInstanceUID, label), not by folder (§3.4)
    first = make_study(n_instances=1, study_description="A", patient_id="P1")
    second = make_study(
        n_instances=1, study_description="A", patient_id="P1", study_instance_uid=generate_uid()
    )
    assert send_datasets(receiver.port, first + second) == [0, 0]
    receiver.wait_processed()
    sessions = list(PrearchiveSession.objects.order_by("id"))
    assert len(sessions) == 2
    assert {s.label for s in sessions} == {"P1"}
    assert sessions[0].study_instance_uid != sessions[1].study_instance_uid
    assert len({(s.timestamp, s.folder_name) for s in sessions}) == 2


def test_a_receiver_runs_the_sweep_when_nobody_has_for_too_long(receiver, project_a, settings):
    """Issue 16: with Celery beat down, sessions stayed RECEIVING and nothing said so. A receiver now
    runs the overdue sweep itself (once per period for the whole site)."""
    from dicom_receiver import server

    settings.SESSION_IDLE_SECONDS = 0
    settings.SESSION_CHECK_SECONDS = 0.1  # overdue after 0.3 s without a sweep
    assert send_datasets(receiver.port, make_study(n_instances=2, study_description="A")) == [0, 0]
    receiver.wait_processed()
    assert server.SWEEP_OVERDUE_FACTOR * settings.SESSION_CHECK_SECONDS < 1
    wait_for(
        lambda: PrearchiveSession.objects.filter(status=Status.READY).exists(),
        what="the receiver to build the idle session",
    )
    assert AuditEvent.objects.filter(action="prearchive.session.created").count() == 1
