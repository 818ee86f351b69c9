"""Archiving into a session that exists: every conflict of xnat-spec.md §3.8-3.9 and what each
overwrite mode does with it. After a refusal the archive is exactly as before and the prearchive
session waits in CONFLICT with the reason; after a merge the rows, files and catalogs agree."""

import pydicom
import pytest
from pydicom.uid import generate_uid

from anonymize.dicomedit import hash_uid
from archive.models import File, ImageSession, Scan
from archiving import service as archive_service
from prearchive import handoff
from prearchive.models import PrearchiveSession, Status
from tests.dicomgen import make_instance
from tests.sessions import check_archived, md5
from xnatlite import disk, layout
from xnatlite.errors import ArchiveConflict


def instances(study_uid, series_uid, number, count, start=1, modality="MR", **extra):
    return [
        make_instance(
            study_instance_uid=study_uid,
            series_instance_uid=series_uid,
            series_number=number,
            instance_number=n,
            modality=modality,
            study_description="A",
            patient_name="DOE^JOHN",
            patient_id="MRN1",
            **extra,
        )
        for n in range(start, start + count)
    ]


@pytest.fixture
def first(ready, project_a, alice):
    """An archived session A/E1 of subject S1: scan 1, two instances of one series."""
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = instances(study_uid, series_uid, 1, 2)
    archived = handoff.archive_session(ready(datasets=datasets), by=alice, subject="S1", label="E1").session
    archived.study_uid, archived.series_uid = study_uid, series_uid
    archived.datasets = datasets
    return archived


def snapshot(session: ImageSession) -> dict:
    """Everything archived in a session: (path -> md5) on disk and the rows."""
    folder = layout.archive_session_dir(session.project_id, session.label)
    files = {str(p.relative_to(folder)): md5(p) for p in folder.rglob("*") if p.is_file()}
    rows = sorted(File.objects.filter(resource__scan__session=session).values_list("path", "md5"))
    return {"files": files, "rows": rows, "scans": sorted(session.scans.values_list("scan_id", flat=True))}


def refused(session: PrearchiveSession, code: int) -> None:
    session.refresh_from_db()
    assert session.status == Status.CONFLICT
    assert f"[{code}]" in session.status_reason
    assert session.folder.is_dir()


def test_overwrite_none_refuses_an_existing_session(ready, first, alice):
    before = snapshot(first)
    session = ready(datasets=instances(first.study_uid, generate_uid(), 2, 1))
    with pytest.raises(ArchiveConflict, match=r"\[1\] Session E1 already exists") as raised:
        handoff.archive_session(session, by=alice, subject="S1", label="E1")
    # Issue 15: the reason speaks the page's words (Append, Replace), not the parameter's (overwrite=append).
    assert "choosing Append to add to it" in str(raised.value) and "overwrite=" not in str(raised.value)
    refused(session, 1)
    assert snapshot(first) == before


def test_append_adds_new_scans(ready, first, alice):
    before = snapshot(first)
    session = ready(datasets=instances(first.study_uid, generate_uid(), 2, 3))
    results = handoff.validate_archive(session, by=alice, subject="S1", label="E1", overwrite="append")
    assert [r.code for r in results] == [1]
    merged = handoff.archive_session(session, by=alice, subject="S1", label="E1", overwrite="append").session
    assert merged.pk == first.pk
    scans = check_archived(merged)
    assert sorted(scans) == ["1", "2"] and len(scans["2"]) == 3
    after = snapshot(merged)
    assert {
        k: v for k, v in after["files"].items() if k.startswith("SCANS/1/DICOM/") and k.endswith(".dcm")
    } == {k: v for k, v in before["files"].items() if k.startswith("SCANS/1/DICOM/") and k.endswith(".dcm")}
    assert not PrearchiveSession.objects.filter(pk=session.pk).exists()


def test_append_merges_new_instances_of_an_archived_series(ready, first, alice):
    session = ready(datasets=instances(first.study_uid, first.series_uid, 1, 2, start=3))
    codes = [r.code for r in handoff.validate_archive(session, by=alice, subject="S1", label="E1")]
    assert codes == [1, 16]
    merged = handoff.archive_session(session, by=alice, subject="S1", label="E1", overwrite="append").session
    scans = check_archived(merged)
    assert list(scans) == ["1"] and len(scans["1"]) == 4
    assert Scan.objects.get(session=merged, scan_id="1").frames == 4


def test_a_duplicate_instance_is_a_conflict_when_appending(ready, first, alice):
    before = snapshot(first)
    session = ready(datasets=[first.datasets[0]])
    with pytest.raises(ArchiveConflict, match=r"\[15\] Duplicate DICOM file uploaded"):
        handoff.archive_session(session, by=alice, subject="S1", label="E1", overwrite="append")
    refused(session, 15)
    assert snapshot(first) == before


@pytest.mark.parametrize(
    "options", [{"overwrite": "delete"}, {"overwrite": "append", "overwrite_files": True}]
)
def test_overwriting_replaces_the_file_and_keeps_a_backup(ready, first, alice, data_root, options):
    # The default site script maps UIDs with hashUID at ingest, the same way every time.
    sop_instance_uid = hash_uid(first.datasets[0].SOPInstanceUID)
    old = File.objects.get(resource__scan__session=first, sop_instance_uid=sop_instance_uid)
    old_bytes = old.absolute_path.read_bytes()
    changed = first.datasets[0].copy()
    changed.SeriesDescription = "REPLACED"
    session = ready(datasets=[changed])
    merged = handoff.archive_session(session, by=alice, subject="S1", label="E1", **options).session
    scans = check_archived(merged)
    assert len(scans["1"]) == 2
    new = File.objects.get(resource__scan__session=merged, sop_instance_uid=sop_instance_uid)
    assert pydicom.dcmread(new.absolute_path).SeriesDescription == "REPLACED"
    backups = [p for p in (data_root / "cache" / "merge").rglob("*.dcm")]
    assert len(backups) == 1 and backups[0].read_bytes() == old_bytes
    assert list((data_root / "cache" / "merge").rglob("scan_1_catalog.xml"))


def test_another_study_under_the_same_label_needs_delete(ready, first, alice):
    before = snapshot(first)
    other = ready(datasets=instances(generate_uid(), generate_uid(), 7, 1))
    with pytest.raises(ArchiveConflict, match=r"\[5\]"):
        handoff.archive_session(other, by=alice, subject="S1", label="E1", overwrite="append")
    refused(other, 5)
    assert snapshot(first) == before
    merged = handoff.archive_session(other, by=alice, subject="S1", label="E1", overwrite="delete").session
    assert sorted(check_archived(merged)) == ["1", "7"]


def test_a_session_of_another_subject_is_refused_in_every_mode(ready, first, alice):
    before = snapshot(first)
    session = ready(datasets=instances(first.study_uid, generate_uid(), 2, 1))
    results = handoff.validate_archive(session, by=alice, subject="S2", label="E1", overwrite="delete")
    assert (4, "fail") in [(r.code, r.kind) for r in results]
    assert (12, "warning") in [(r.code, r.kind) for r in results]
    with pytest.raises(ArchiveConflict, match=r"\[4\] Session E1 belongs to subject S1, not S2"):
        handoff.archive_session(session, by=alice, subject="S2", label="E1", overwrite="delete")
    refused(session, 4)
    assert snapshot(first) == before


def test_another_modality_is_refused_in_every_mode(ready, first, alice):
    session = ready(datasets=instances(first.study_uid, generate_uid(), 3, 1, modality="CT"))
    with pytest.raises(ArchiveConflict, match=r"\[19\]"):
        handoff.archive_session(session, by=alice, subject="S1", label="E1", overwrite="delete")
    refused(session, 19)


def test_a_scan_number_taken_by_another_series_gets_a_new_id(ready, first, alice):
    session = ready(datasets=instances(first.study_uid, generate_uid(), 1, 2))
    codes = [r.code for r in handoff.validate_archive(session, by=alice, subject="S1", label="E1")]
    assert codes == [1, 17]
    merged = handoff.archive_session(session, by=alice, subject="S1", label="E1", overwrite="append").session
    scans = check_archived(merged)
    assert sorted(scans) == ["1", "1-1"] and len(scans["1-1"]) == 2


def test_an_archived_series_under_another_number_needs_delete(ready, first, alice):
    session = ready(datasets=instances(first.study_uid, first.series_uid, 9, 1, start=5))
    with pytest.raises(ArchiveConflict, match=r"\[18\]"):
        handoff.archive_session(session, by=alice, subject="S1", label="E1", overwrite="append")
    refused(session, 18)
    merged = handoff.archive_session(session, by=alice, subject="S1", label="E1", overwrite="delete").session
    scans = check_archived(merged)
    assert list(scans) == ["1"] and len(scans["1"]) == 3  # the series stays scan 1


def test_a_folder_without_a_session_is_not_overwritten(ready, project_a, alice):
    folder = layout.archive_session_dir("A", "E9")
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("someone's file")
    session = ready(n_series=1, n_instances=1)
    with pytest.raises(ArchiveConflict, match=r"\[14\]"):
        handoff.archive_session(session, by=alice, label="E9", overwrite="delete")
    assert (folder / "notes.txt").read_text() == "someone's file"
    assert not ImageSession.objects.exists()


def test_another_archive_into_the_same_session_makes_it_wait_then_give_up(
    ready, project_a, alice, monkeypatch
):
    monkeypatch.setattr(archive_service, "TARGET_WAIT_SECONDS", 0.3)
    session = ready(n_series=1, n_instances=1)
    with disk.flock(disk.target_lock_path("A", "E5")) as held:
        assert held
        with pytest.raises(ArchiveConflict, match=r"\[10\]"):
            handoff.archive_session(session, by=alice, label="E5")
    refused(session, 10)
    archived = handoff.archive_session(session, by=alice, label="E5").session
    assert archived.label == "E5"


def test_a_conflicting_session_can_be_archived_under_another_label(ready, first, alice):
    session = ready(datasets=instances(first.study_uid, generate_uid(), 2, 1))
    with pytest.raises(ArchiveConflict):
        handoff.archive_session(session, by=alice, subject="S1", label="E1")
    archived = handoff.archive_session(session, by=alice, subject="S1", label="E2").session
    assert archived.label == "E2" and archived.subject_id == first.subject_id
    check_archived(archived)
