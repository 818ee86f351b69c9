"""The archive service: a prearchive session into the archive, relabelled, anonymized, with catalogs,
rows that match the files, and nothing left in the prearchive (xnat-spec.md §3.7, §6.1, §7)."""

import pydicom
import pytest

from archive.models import File, ImageSession, Resource, Scan, Subject
from prearchive import handoff
from prearchive.models import PrearchiveSession, Status
from tests.sessions import check_archived
from xnatlite.errors import Forbidden, NotFound, XnatliteError
from xnatlite.models import AuditEvent


def test_it_archives_with_new_labels_and_the_project_script(ready, project_a, bob):
    session = ready(n_series=2, n_instances=3)
    prearchive_folder = session.folder
    archived = handoff.archive_session(session, by=bob, subject="SUBJ01", label="SESS01").session
    assert (archived.project_id, archived.label, archived.subject.label) == ("A", "SESS01", "SUBJ01")
    assert archived.accession_id.startswith("XNATLITE_E")
    assert archived.subject.accession_id.startswith("XNATLITE_S")
    assert archived.xsi_type == "xnat:mrSessionData"
    scans = check_archived(archived)
    assert sorted(scans) == ["1", "2"] and all(len(v) == 3 for v in scans.values())
    for file in File.objects.filter(resource__scan__session=archived):
        ds = pydicom.dcmread(file.absolute_path)
        assert (str(ds.PatientName), ds.PatientID, ds.AccessionNumber) == ("SUBJ01", "SESS01", "")
        assert ds.StudyDescription == "A"
        last = ds.DeidentificationMethodCodeSequence[-1]
        assert (last.CodeValue, last.CodeMeaning) == ("XNLPROJ0", "xnatlite project A script v0")
        assert b"MRN12345" not in file.absolute_path.read_bytes()
        assert b"ACC777" not in file.absolute_path.read_bytes()
    assert not PrearchiveSession.objects.filter(pk=session.pk).exists()
    assert not prearchive_folder.exists()
    scan = Scan.objects.get(session=archived, scan_id="1")
    assert (scan.xsi_type, scan.quality, scan.frames, scan.modality) == ("xnat:mrScanData", "usable", 3, "MR")
    assert scan.type == scan.series_description == "MR series 1"
    assert Resource.objects.get(scan=scan, label="DICOM").format == "DICOM"
    assert archived.dcm_patient_name == "SUBJ01" and archived.dcm_accession_number == ""
    event = AuditEvent.objects.get(action="archive.session.archived")
    assert (event.actor, event.object_id, event.details["files"]) == (bob, archived.accession_id, 6)


def test_rewritten_files_are_byte_for_byte_what_pydicom_writes(ready, project_a, bob, tmp_path):
    """The archive encodes by hand and copies the pixel data file to file (dicomio/files.py):
    the result must be what reading, scripting and writing with pydicom gives."""
    from anonymize import services as anonymize_services
    from anonymize.dicomedit import read_dicom

    session = ready(n_series=1, n_instances=3, rows=128, cols=128)  # pixel data over 16 kB: copied
    before = {f.sop_instance_uid: f.absolute_path.read_bytes() for f in session.files.all()}
    script, record = anonymize_services.project_script_for_archive(project_a)
    archived = handoff.archive_session(session, by=bob, subject="SUBJ01", label="SESS01").session
    expected = set()
    for data in before.values():
        (tmp_path / "in.dcm").write_bytes(data)
        ds = read_dicom(tmp_path / "in.dcm")
        script.apply(ds, {"project": "A", "subject": "SUBJ01", "session": "SESS01"}, record=record)
        ds.PatientName, ds.PatientID = "SUBJ01", "SESS01"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(tmp_path / "out.dcm", enforce_file_format=False)
        expected.add((tmp_path / "out.dcm").read_bytes())
    written = {f.absolute_path.read_bytes() for f in File.objects.filter(resource__scan__session=archived)}
    assert written == expected and len(written) == 3
    check_archived(archived)  # sizes and MD5s of rows and catalogs are those of the files


def test_a_file_that_is_not_dicom_leaves_the_session_in_error_with_the_reason(ready, project_a, bob):
    """dicomio's InvalidDicom, raised while the archive reads a file, is an error with its reason."""
    session = ready(n_series=1, n_instances=2)
    broken = session.files.first().absolute_path
    broken.write_bytes(broken.read_bytes()[:300])  # cut off inside the header
    with pytest.raises(XnatliteError, match="^The file holds no DICOM data elements$") as raised:
        handoff.archive_session(session, by=bob, subject="SUBJ01", label="SESS01")
    session.refresh_from_db()
    assert (session.status, session.status_reason) == (Status.ERROR, str(raised.value))
    assert not ImageSession.objects.filter(label="SESS01").exists()
    assert broken.exists()


def test_previews_are_made_after_archiving(ready, project_a, alice, django_capture_on_commit_callbacks):
    session = ready(n_series=1, n_instances=3)
    with django_capture_on_commit_callbacks(execute=True):
        archived = handoff.archive_session(session, by=alice).session
    from archive.previews import preview_file

    scan = archived.scans.get()
    path = preview_file(scan)
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")
    assert preview_file(scan, thumbnail=True) is not None
    assert path.parent.name == "SNAPSHOTS"
    assert {f.content for f in File.objects.filter(resource__scan=scan, resource__label="SNAPSHOTS")} == {
        "ORIGINAL",
        "THUMBNAIL",
    }


def test_it_keeps_the_prearchive_labels_by_default(ready, project_a, alice):
    session = ready(n_series=1, n_instances=2, patient_name="SUBJX", patient_id="SESSX")
    archived = handoff.archive_session(session, by=alice).session
    assert (archived.subject.label, archived.label) == ("SUBJX", "SESSX")
    assert Subject.objects.filter(project=project_a).count() == 1
    assert ImageSession.objects.count() == 1


@pytest.mark.parametrize("user, error", [("carol", Forbidden), ("dave", NotFound)])
def test_collaborators_and_strangers_cannot_archive(ready, project_a, project_d, user, error, request):
    session = ready(n_series=1, n_instances=1)
    with pytest.raises(error):
        handoff.archive_session(session, by=request.getfixturevalue(user))
    session.refresh_from_db()
    assert session.status == Status.READY
    assert ImageSession.objects.count() == 0
