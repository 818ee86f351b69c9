"""ingest_file, the one ingestion path, called the way uploads and the REST import call it."""

import io

import pydicom
import pytest

from prearchive.ingest import IngestContext, ingest_file
from prearchive.instances import file_name, java_list_hash, scan_folder
from prearchive.models import AutoArchive, PrearchiveFile, PrearchiveSession, Status, change_status
from tests.dicomgen import make_instance, make_study, pydicom_test_file
from tests.sessions import ingest_study, make_ready
from xnatlite import layout
from xnatlite.errors import InvalidDicom, InvalidLabel, NotFound
from xnatlite.models import PrearchiveCode
from xnatlite.projects import add_project_alias, update_project


def stored_files():
    return sorted(p for p in layout.prearchive_root().rglob("*") if p.is_file())


def test_an_explicit_project_wins_for_its_members(db, ingest, project_a, project_d, bob):
    study = make_study(n_instances=2, study_description="D")
    results = ingest(study, project="A", subject="S1", session="E1", user=bob)
    session = results[0].session
    assert (session.project_id, session.subject_label, session.label) == ("A", "S1", "E1")
    assert PrearchiveFile.objects.filter(session=session).count() == 2


def test_an_alias_names_the_project(db, ingest, project_a, alice):
    add_project_alias(project_a, "ALIAS_A", by=alice)
    [result] = ingest(make_study(n_instances=1), project="ALIAS_A", user=alice)
    assert result.session.project_id == "A"


@pytest.mark.parametrize("user", ["carol", "dave"])
def test_someone_elses_project_is_not_found_and_nothing_is_stored(db, ingest, cast, user):
    with pytest.raises(NotFound, match="Project 'A' not found"):
        ingest(make_study(n_instances=1), project="A", user=cast[user])
    assert not PrearchiveSession.objects.exists()
    assert stored_files() == []


def test_a_bad_explicit_label_is_refused(db, ingest, project_a, alice):
    with pytest.raises(InvalidLabel, match="may only contain"):
        ingest(make_study(n_instances=1), project="A", session="../etc", user=alice)
    assert stored_files() == []


def test_garbage_and_truncated_files_are_invalid_dicom_and_store_nothing(db):
    for source in (
        io.BytesIO(b"hello world" * 100),
        io.BytesIO(b""),
        pydicom_test_file("MR_truncated.dcm"),
        pydicom_test_file("rtplan_truncated.dcm"),
    ):
        with pytest.raises(InvalidDicom):
            ingest_file(source, IngestContext(source="upload"))
    assert not PrearchiveSession.objects.exists()
    assert stored_files() == []


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"])
def test_a_dataset_without_file_meta_gets_one(db, name):
    result = ingest_file(pydicom_test_file(name), IngestContext(source="import", prevent_anon=True))
    stored = pydicom.dcmread(result.file.absolute_path)
    original = pydicom.dcmread(pydicom_test_file(name), force=True)
    assert stored.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert stored.SOPInstanceUID == original.SOPInstanceUID
    assert stored.file_meta.TransferSyntaxUID.is_little_endian == original.original_encoding[1]
    assert stored.get("PixelData") == original.get("PixelData")
    assert result.session.prevent_anon is True and result.session.source == "import"


def test_prevent_anon_keeps_the_file_as_sent(db, ingest, project_a, alice):
    study = make_study(n_instances=1, study_description="A")
    [result] = ingest(study, prevent_anon=True, user=alice)
    stored = pydicom.dcmread(result.file.absolute_path)
    assert stored.SOPInstanceUID == study[0].SOPInstanceUID
    assert stored.PatientBirthDate == "19700101"  # the default site script would have emptied it


def test_the_default_site_script_runs_otherwise(db, ingest, project_a):
    study = make_study(n_instances=1, study_description="A")
    [result] = ingest(study)
    stored = pydicom.dcmread(result.file.absolute_path)
    assert stored.SOPInstanceUID != study[0].SOPInstanceUID
    assert stored.PatientBirthDate == ""
    assert result.file.sop_instance_uid == stored.SOPInstanceUID
    assert result.session.study_instance_uid == stored.StudyInstanceUID


def test_a_second_copy_replaces_the_first_even_under_another_name(db, ingest, project_a):
    ds = make_study(n_instances=1, study_description="A")[0]
    [first] = ingest([ds], prevent_anon=True)
    ds.SeriesNumber = 7  # same SOP instance, now in series number 7: another folder and name
    [second] = ingest([ds], prevent_anon=True)
    assert second.replaced and not first.replaced
    assert second.session.pk == first.session.pk
    row = PrearchiveFile.objects.get()
    assert row.scan_id == "7" and "/SCANS/7/DICOM/" in row.path
    assert stored_files() == [row.absolute_path]
    session = PrearchiveSession.objects.get()
    assert (session.file_count, session.total_size) == (1, row.size)


def test_auto_archive_is_captured_from_aa_then_the_project_code(db, ingest, project_a, alice):
    update_project(project_a, prearchive_code=PrearchiveCode.AUTO_ARCHIVE_OVERWRITE, by=alice)
    code = ingest(make_study(n_instances=1, study_description="A", patient_id="E1"))[0].session
    aa_false = ingest(make_study(n_instances=1, study_description="A", patient_comments="AA:false"))[
        0
    ].session
    override = ingest(make_study(n_instances=1, study_description="A", patient_id="E3"), auto_archive=True)[0]
    unassigned = ingest(make_study(n_instances=1, patient_comments="AA:true", patient_id="E4"))[0].session
    assert code.auto_archive == AutoArchive.AUTO_ARCHIVE_OVERWRITE
    assert aa_false.auto_archive == AutoArchive.MANUAL
    assert override.session.auto_archive == AutoArchive.AUTO_ARCHIVE
    assert (unassigned.project_id, unassigned.auto_archive) == (None, AutoArchive.MANUAL)
    # a later change of the project code does not touch sessions already received (§4)
    update_project(project_a, prearchive_code=PrearchiveCode.MANUAL, by=alice)
    code.refresh_from_db()
    assert code.auto_archive == AutoArchive.AUTO_ARCHIVE_OVERWRITE


def test_context_metadata_is_stored_on_the_row(db, ingest, project_a, alice):
    [result] = ingest(
        make_study(n_instances=1),
        project="A",
        user=alice,
        source="uploader",
        visit="V1",
        protocol="PROT",
        timezone="Europe/Paris",
        prevent_auto_commit=True,
    )
    session = result.session
    assert (session.source, session.visit, session.protocol, session.timezone) == (
        "uploader",
        "V1",
        "PROT",
        "Europe/Paris",
    )
    assert session.prevent_auto_commit is True


@pytest.mark.parametrize("status", [Status.READY, Status.CONFLICT, Status.ERROR])
def test_late_data_reopens_a_finished_session(db, ingest, project_a, status):
    study = make_study(n_instances=2, study_description="A")
    [result] = ingest(study[:1])
    session = result.session
    PrearchiveSession.objects.filter(pk=session.pk).update(status=status, status_reason="old reason")
    ingest(study[1:])
    session.refresh_from_db()
    assert (session.status, session.status_reason, session.file_count) == (Status.RECEIVING, "", 2)
    assert PrearchiveSession.objects.count() == 1


def test_a_study_sent_again_into_a_ready_session_reopens_it_with_one_copy_of_each(db, project_a):
    """The same instances again (a sender retrying, an upload tool re-sending a refused study) reopen the
    READY session they built: each file is replaced in place, none doubled (it answered 500 before:
    the file was 'moved' onto itself)."""
    study = make_study(n_instances=2, study_description="A")
    session = make_ready(ingest_study(study))
    again = ingest_study(study)
    session.refresh_from_db()
    assert again.pk == session.pk and (session.status, session.file_count) == (Status.RECEIVING, 2)
    assert len([p for p in session.folder.rglob("*.dcm")]) == 2
    assert PrearchiveSession.objects.count() == 1


def test_late_data_interrupts_a_build(db, ingest, project_a):
    study = make_study(n_instances=2, study_description="A")
    session = ingest(study[:1])[0].session
    change_status(session, Status.BUILDING)
    ingest(study[1:])
    session.refresh_from_db()
    assert (session.status, session.file_count) == (Status.RECEIVING_INTERRUPT, 2)


@pytest.mark.parametrize(
    "status", [Status.QUEUED_ARCHIVING, Status.ARCHIVING, Status.MOVING, Status.DELETING]
)
def test_late_data_for_a_session_being_archived_starts_a_new_session(db, ingest, project_a, status):
    study = make_study(n_instances=2, study_description="A", patient_id="E1")
    first = ingest(study[:1])[0].session
    PrearchiveSession.objects.filter(pk=first.pk).update(status=status)
    second = ingest(study[1:])[0].session
    assert second.pk != first.pk
    assert (second.status, second.label, second.study_instance_uid) == (
        Status.RECEIVING,
        "E1",
        first.study_instance_uid,
    )
    assert (second.timestamp, second.folder_name) != (first.timestamp, first.folder_name)
    first.refresh_from_db()
    assert (first.status, first.file_count) == (status, 1)  # the archived one is untouched
    assert len(list(first.folder.rglob("*.dcm"))) == 1
    assert len(list(second.folder.rglob("*.dcm"))) == 1


def test_xnats_file_name_and_scan_folder():
    assert java_list_hash("a", "b") == "34y"  # Java: Arrays.asList("a","b").hashCode() == 4066
    ds = make_instance(
        study_instance_uid="1.2", series_instance_uid="1.2.3", series_number=4, instance_number=9
    )
    assert file_name(ds).startswith("1.2-4-9-") and file_name(ds).endswith(".dcm")
    del ds.InstanceNumber
    assert "-no-value-for-InstanceNumber-" in file_name(ds)
    assert scan_folder(ds) == "4"
    ds.SeriesNumber = "+5"
    assert scan_folder(ds) == "_5"
    ds.SeriesNumber = ""
    assert scan_folder(ds) == "1_2_3"
    del ds.SeriesInstanceUID
    assert scan_folder(ds) == "NA"


def test_scan_date_comes_from_the_stored_header(db, ingest, project_a):
    session = ingest(make_study(n_instances=1, study_description="A"), prevent_anon=True)[0].session
    assert str(session.scan_date) == "2024-01-02" and str(session.scan_time) == "10:15:00"


def test_a_session_that_stops_receiving_between_two_instances_gets_no_more_files(
    db, ingest, project_a, settings
):
    settings.SESSION_IDLE_SECONDS = 300  # the second instance reuses this process's recent claim
    study = make_study(n_instances=2, study_description="A", patient_id="E1")
    first = ingest(study[:1])[0].session
    assert change_status(first, Status.DELETING)  # a user deletes it meanwhile
    second = ingest(study[1:])[0].session
    assert second.pk != first.pk and second.status == Status.RECEIVING
    first.refresh_from_db()
    assert first.file_count == 1
    assert len(list(first.folder.rglob("*.dcm"))) == 1  # nothing written there was left behind
    assert len(list(second.folder.rglob("*.dcm"))) == 1
