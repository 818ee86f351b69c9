"""End to end over the network: a study and pydicom's own files pushed to the receiver over real
associations, built by the idle timeout, reviewed and archived with new labels by a project member;
then the archive on disk holds none of the original names, IDs or accession numbers, has XNAT's
layout and catalogs, and its rows match its files exactly."""

from __future__ import annotations

import pydicom
import pytest

from archive import catalogs
from archive.models import File, ImageSession
from prearchive import handoff
from prearchive.models import PrearchiveSession, Status
from prearchive.sweep import build_idle_sessions
from tests.dicom_receiver.conftest import receiver  # noqa: F401 - the running receiver fixture
from tests.dicomgen import make_study, pydicom_test_file, send_datasets
from tests.sessions import check_archived
from tests.waiting import wait_for
from xnatlite import layout

pytestmark = pytest.mark.e2e

NAME, MRN, ACCESSION = "SMITH^JANE^Q", "MRN998877", "ACC55555"


def wait_until_ready(count: int) -> list[PrearchiveSession]:
    """Run the idle builder (as `serve` does every few seconds) until `count` sessions are READY."""

    def ready() -> list[PrearchiveSession] | None:
        build_idle_sessions()
        sessions = list(PrearchiveSession.objects.filter(status=Status.READY).order_by("id"))
        return sessions if len(sessions) >= count else None

    return wait_for(ready, what=f"{count} READY sessions", poll=0.2)


def assert_no_identifiers(folder, forbidden: list[bytes]) -> int:
    """No file under the folder (DICOM, catalogs, previews) holds any of the strings; headers parsed too."""
    checked = 0
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for text in forbidden:
            assert text not in data, f"{text!r} found in {path}"
        if path.suffix == ".dcm":
            ds = pydicom.dcmread(path)
            for element in ds.iterall():
                value = str(element.value).encode(errors="ignore")
                for text in forbidden:
                    assert text not in value, f"{text!r} in {element.tag} of {path}"
            checked += 1
    return checked


def test_push_review_and_archive_with_new_labels(receiver, project_a, bob, settings):  # noqa: F811
    settings.SESSION_IDLE_SECONDS = 1
    study = make_study(
        n_series=2,
        n_instances=3,
        rows=32,
        cols=32,
        patient_name=NAME,
        patient_id=MRN,
        accession=ACCESSION,
        study_description="A",
    )
    ct = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    ct.StudyDescription = "A"  # routes it to project A (xnat-spec.md §5.4)
    ct.AccessionNumber = "ACC424242"
    assert set(send_datasets(receiver.port, [*study, ct])) == {0x0000}
    sessions = wait_until_ready(2)
    by_label = {s.label: s for s in sessions}
    assert set(by_label) == {MRN, "1CT1"}  # routed by Patient ID, reviewed under these labels
    review = handoff.validate_archive(by_label[MRN], by=bob, subject="SUBJ7", label="SUBJ7_MR1")
    assert [(r.code, r.kind) for r in review] == [(12, "warning")]
    handoff.queue_archive(by_label[MRN], by=bob, subject="SUBJ7", label="SUBJ7_MR1")
    handoff.queue_archive(by_label["1CT1"], by=bob, subject="SUBJ8", label="SUBJ8_CT1")

    assert not PrearchiveSession.objects.exists()
    mr = ImageSession.objects.get(project_id="A", label="SUBJ7_MR1")
    ct_session = ImageSession.objects.get(project_id="A", label="SUBJ8_CT1")
    assert (mr.subject.label, mr.xsi_type, ct_session.xsi_type) == (
        "SUBJ7",
        "xnat:mrSessionData",
        "xnat:ctSessionData",
    )
    scans = check_archived(mr)
    assert sorted(scans) == ["1", "2"] and [len(v) for v in scans.values()] == [3, 3]
    assert [len(v) for v in check_archived(ct_session).values()] == [1]

    forbidden = [
        b"SMITH",
        b"JANE",
        MRN.encode(),
        ACCESSION.encode(),
        b"CompressedSamples",
        b"1CT1",
        b"ACC424242",
    ]
    archive_root = layout.archive_project_dir("A")
    assert assert_no_identifiers(archive_root, forbidden) == 7
    for file in File.objects.filter(resource__label="DICOM"):
        ds = pydicom.dcmread(file.absolute_path, stop_before_pixels=True)
        session = file.resource.scan.session
        assert (str(ds.PatientName), ds.PatientID, ds.AccessionNumber) == (
            session.subject.label,
            session.label,
            "",
        )

    # XNAT's layout: archive/{project}/arc001/{session}/SCANS/{scan}/DICOM/ + catalog, SNAPSHOTS beside.
    folder = layout.archive_session_dir("A", "SUBJ7_MR1")
    assert sorted(p.name for p in (folder / "SCANS").iterdir()) == ["1", "2"]
    for scan in ("1", "2"):
        assert sorted(p.name for p in (folder / "SCANS" / scan).iterdir()) == ["DICOM", "SNAPSHOTS"]
        assert (folder / "SCANS" / scan / "DICOM" / catalogs.dicom_catalog_name(scan)).is_file()
        snapshots = sorted(p.name for p in (folder / "SCANS" / scan / "SNAPSHOTS").iterdir())
        assert snapshots == [
            f"{mr.accession_id}_{scan}_qc.png",
            f"{mr.accession_id}_{scan}_qc_t.png",
            f"scan_{scan}_SNAPSHOTS_catalog.xml",
        ]
    assert not list(layout.prearchive_root().rglob("*.dcm"))
