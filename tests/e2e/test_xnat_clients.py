"""The real, unmodified XNAT clients from PyPI (xnatpy and pyxnat) against a live xnatlite server.

Each client connects, lists projects, subjects, experiments, scans, resources and files, creates a
subject and an experiment, imports a zip of DICOM into the prearchive and archives it, downloads the
session zip and compares its DICOM with what was sent, uploads a resource file, deletes, and
disconnects. The data is checked in the database and on disk after each step.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pydicom
import pytest

from archive.models import File, ImageSession, Resource, Subject
from prearchive.models import PrearchiveSession
from tests.dicomgen import make_study, pydicom_test_file
from tests.factories import DICOM_FILES, make_session_with_files

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sop_uids_in_zip(data: bytes) -> dict[str, bytes]:
    """SOPInstanceUID -> pixel bytes of every DICOM member of a zip."""
    found = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            ds = pydicom.dcmread(io.BytesIO(archive.read(name)), force=True)
            if "SOPInstanceUID" in ds:
                found[str(ds.SOPInstanceUID)] = ds.get("PixelData", b"")
    return found


def _sent_sop_uids() -> dict[str, bytes]:
    sent = {}
    for name in DICOM_FILES:
        ds = pydicom.dcmread(pydicom_test_file(name))
        sent[str(ds.SOPInstanceUID)] = ds.PixelData
    return sent


def _study_zip(path: Path, patient_id: str) -> list:
    """A zip of a generated 3-instance MR study; returns the datasets sent."""
    datasets = make_study(n_series=1, n_instances=3, patient_id=patient_id)
    with zipfile.ZipFile(path, "w") as archive:
        for n, ds in enumerate(datasets):
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            archive.writestr(f"study/{n}.dcm", buffer.getvalue())
    return datasets


def _dicom_members(archive: zipfile.ZipFile) -> list[str]:
    """The DICOM resource's members (an archived scan also has its SNAPSHOTS previews)."""
    return [n for n in archive.namelist() if "/DICOM/" in n]


def _pixels_in_zip(data: bytes) -> list[bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sorted(pydicom.dcmread(io.BytesIO(archive.read(n))).PixelData for n in _dicom_members(archive))


@pytest.fixture
def world(project_a, alice, bob, carol, dave, project_d):
    return make_session_with_files(project_a)


def test_xnatpy_everyday_flow(live_server, world, tmp_path, project_a):
    import xnat

    with xnat.connect(live_server.url, user="alice", password="pw", loglevel="ERROR") as session:
        assert session.logged_in_user == "alice"
        # Listings, from the top down.
        assert "A" in session.projects and "D" not in session.projects
        project = session.projects["A"]
        assert [s.label for s in project.subjects.values()] == ["S1"]
        subject = project.subjects["S1"]
        experiment = subject.experiments["MR1"]
        assert experiment.__xsi_type__ == "xnat:mrSessionData"
        assert list(experiment.scans.keys()) == ["1"]
        scan = experiment.scans["1"]
        assert scan.type == "T1w"
        assert [r.label for r in scan.resources.values()] == ["DICOM"]
        files = scan.resources["DICOM"].files
        assert sorted(files.keys()) == sorted(DICOM_FILES)

        # A single file, verified by xnatpy against the MD5 digest we list.
        target = tmp_path / "one.dcm"
        files["MR_small.dcm"].download(str(target))
        assert target.read_bytes() == pydicom_test_file("MR_small.dcm").read_bytes()

        # The session zip holds exactly the DICOM that was stored.
        zip_path = tmp_path / "session.zip"
        experiment.download(str(zip_path))
        assert _sop_uids_in_zip(zip_path.read_bytes()) == _sent_sop_uids()

        # Import a zip of DICOM into the prearchive; the session is READY and listed.
        sent = _study_zip(tmp_path / "upload.zip", "P-XNATPY")
        prearc = session.services.import_(
            str(tmp_path / "upload.zip"),
            project="A",
            subject="S3",
            experiment="MR3",
            destination="/prearchive",
        )
        row = PrearchiveSession.objects.get(project=project_a, label="MR3")
        assert (prearc.label, prearc.status, prearc.subject) == ("MR3", "READY", "S3")
        assert row.file_count == 3 and row.subject_label == "S3"
        assert [p.label for p in session.prearchive.sessions(project="A")] == ["MR3"]
        assert [s.id for s in prearc.scans] == ["1"]
        assert len(prearc.scans[0].files) == 3
        prearc_zip = tmp_path / "prearc.zip"
        prearc.download(str(prearc_zip))
        assert _pixels_in_zip(prearc_zip.read_bytes()) == sorted(ds.PixelData for ds in sent)

        # Archive it with new labels; download the archived session and compare with what was sent
        # (the site and project scripts replaced UIDs and names, so compare pixels and labels).
        archived = prearc.archive(subject="S3", experiment="MR3")
        assert archived.label == "MR3" and not PrearchiveSession.objects.filter(pk=row.pk).exists()
        archived_zip = tmp_path / "archived.zip"
        archived.download(str(archived_zip))
        assert _pixels_in_zip(archived_zip.read_bytes()) == sorted(ds.PixelData for ds in sent)
        with zipfile.ZipFile(archived_zip) as archive:
            headers = [pydicom.dcmread(io.BytesIO(archive.read(n))) for n in _dicom_members(archive)]
        assert {(str(h.PatientName), h.PatientID) for h in headers} == {("S3", "MR3")}

        # Create a subject and an experiment, set fields.
        new_subject = session.classes.SubjectData(parent=project, label="S2")
        new_subject.group = "control"
        created = Subject.objects.get(project=project_a, label="S2")
        assert created.group == "control" and new_subject.id == created.accession_id
        new_experiment = session.classes.MrSessionData(parent=new_subject, label="MR2")
        new_experiment.date = "2024-03-04"
        row = ImageSession.objects.get(project=project_a, label="MR2")
        assert str(row.date) == "2024-03-04" and row.subject == created
        new_experiment.fields["visit"] = "baseline"
        session.clearcache()
        assert session.experiments[row.accession_id].fields["visit"] == "baseline"

        # A resource with a file in a sub folder.
        resource = experiment.create_resource("XCHK")
        resource.upload_data("hello from xnatpy\n", "notes/hello.txt")
        stored = File.objects.get(resource__session=world["session"], resource__label="XCHK")
        assert stored.name == "notes/hello.txt"
        assert stored.md5 == hashlib.md5(b"hello from xnatpy\n").hexdigest()
        assert Path(stored.absolute_path).read_bytes() == b"hello from xnatpy\n"
        resource.clearcache()
        assert list(resource.files.keys()) == ["notes/hello.txt"]

        # Delete what was created (through objects read back from listings: xnatpy 0.8.1 does not
        # register objects made with a class constructor in its cache, and its delete() needs that).
        session.clearcache()
        session.projects["A"].experiments["MR2"].delete()
        assert not ImageSession.objects.filter(label="MR2").exists()
        session.projects["A"].subjects["S1"].experiments["MR1"].resources["XCHK"].delete()
        assert not Resource.objects.filter(label="XCHK").exists()
        assert not Path(stored.absolute_path).exists()
    # Leaving `with` disconnected the session (DELETE /data/JSESSION answered 200).


def test_pyxnat_everyday_flow(live_server, world, tmp_path, project_a):
    from pyxnat import Interface

    interface = Interface(server=live_server.url, user="alice", password="pw")
    try:
        assert interface.version()
        assert set(interface.select.projects().get()) == {"A"}
        project = interface.select.project("A")
        assert project.exists()
        # Project users and settings, as pyxnat manages them.
        assert sorted(project.users()) == ["alice", "bob", "carol"]
        project.add_user("dave", role="collaborator")
        assert project.user_role("dave") == "collaborator"
        project.remove_user("dave")
        assert "dave" not in project.users()
        project.set_accessibility("protected")
        assert project.accessibility() == b"protected"
        project_a.refresh_from_db()
        assert project_a.accessibility == "protected"
        assert [s.label() for s in project.subjects()] == ["S1"]
        subject = project.subject("S1")
        experiment = subject.experiment("MR1")
        assert experiment.exists()
        assert experiment.scans().get() == ["1"]
        scan = experiment.scan("1")
        assert [r.label() for r in scan.resources()] == ["DICOM"]
        names = sorted(scan.resource("DICOM").files().get())
        assert names == sorted(DICOM_FILES)
        fetched = scan.resource("DICOM").file("CT_small.dcm").get(str(tmp_path / "ct.dcm"))
        assert Path(fetched).read_bytes() == pydicom_test_file("CT_small.dcm").read_bytes()

        # Download all scans as a zip, through pyxnat's own unpacking.
        (tmp_path / "dl").mkdir()
        experiment.scans().download(str(tmp_path / "dl"), type="ALL", extract=False)
        (zip_path,) = (tmp_path / "dl").glob("*.zip")
        assert _sop_uids_in_zip(zip_path.read_bytes()) == _sent_sop_uids()

        # Import a zip through pyxnat's authenticated HTTP session (pyxnat has no import wrapper),
        # then read the prearchive with pyxnat's own calls.
        sent = _study_zip(tmp_path / "upload.zip", "P-PYXNAT")
        answer = interface.post(
            "/data/services/import?project=A&subject=S4&session=MR4&dest=/prearchive",
            data=(tmp_path / "upload.zip").read_bytes(),
            headers={"Content-Type": "application/zip"},
        )
        assert answer.status_code == 200
        row = PrearchiveSession.objects.get(project=project_a, label="MR4")
        assert answer.text == f"/data/prearchive/projects/A/{row.timestamp}/MR4\r\n"
        assert interface.manage.prearchive.get() == [["A", row.timestamp, "MR4"]]
        triple = ["A", row.timestamp, "MR4"]
        assert interface.manage.prearchive.status(triple) == "READY"
        # (pyxnat's JsonTable.get answers a lone value for a one-row table.)
        assert interface.manage.prearchive.get_scans(triple) == "1"
        assert interface.manage.prearchive.get_resources(triple, "1") == "DICOM"
        assert len(interface.manage.prearchive.get_files(triple, "1", "DICOM")) == len(sent)

        # Archive it (through the same HTTP session: pyxnat has no archive call), then download the
        # archived session with pyxnat and compare the pixels with what was sent.
        archived = interface.post(f"/data/services/archive?src=/data{row.url}&subject=S4&session=MR4")
        assert archived.text == "/data/archive/projects/A/subjects/S4/experiments/MR4\r\n"
        (tmp_path / "arc").mkdir()
        project.subject("S4").experiment("MR4").scans().download(
            str(tmp_path / "arc"), type="ALL", extract=False
        )
        (archived_zip,) = (tmp_path / "arc").glob("*.zip")
        assert _pixels_in_zip(archived_zip.read_bytes()) == sorted(ds.PixelData for ds in sent)

        # Create a subject and an experiment with a date, then set a field.
        new_experiment = project.subject("S2").experiment("MR2")
        new_experiment.create(experiments="xnat:mrSessionData", **{"xnat:mrSessionData/date": "2024-01-02"})
        row = ImageSession.objects.get(project=project_a, label="MR2")
        assert str(row.date) == "2024-01-02" and row.subject.label == "S2"
        project.subject("S2").attrs.set("xnat:subjectData/group", "patient")
        assert Subject.objects.get(project=project_a, label="S2").group == "patient"

        # Upload a resource file.
        source = tmp_path / "pyxnat_upload.txt"
        source.write_text("from pyxnat\n")
        project.subject("S2").experiment("MR2").resource("PYX").file("pyxnat_upload.txt").put(
            str(source), format="TXT", content="NOTE", tags="U", overwrite=False
        )
        stored = File.objects.get(resource__session=row, resource__label="PYX")
        assert (stored.format, stored.content) == ("TXT", "NOTE")
        assert Path(stored.absolute_path).read_text() == "from pyxnat\n"

        # Delete the subject with its files.
        folder = Path(stored.absolute_path).parents[2]
        project.subject("S2").delete()
        assert not Subject.objects.filter(project=project_a, label="S2").exists()
        assert not folder.exists()
    finally:
        interface.disconnect()


def test_xnatpy_signs_in_with_an_alias_token(live_server, project_a):
    import requests
    import xnat

    issued = requests.get(
        f"{live_server.url}/data/services/tokens/issue", auth=("alice", "pw"), timeout=10
    ).json()
    with xnat.connect(
        live_server.url, user=issued["alias"], password=issued["secret"], loglevel="ERROR"
    ) as session:
        assert session.logged_in_user == "alice"
        assert list(session.projects.keys()) == ["A"]
    revoked = requests.get(
        f"{live_server.url}/data/services/tokens/invalidate/{issued['alias']}",
        auth=("alice", "pw"),
        timeout=10,
    )
    assert revoked.status_code == 200
    assert (
        requests.get(
            f"{live_server.url}/data/projects", auth=(issued["alias"], issued["secret"]), timeout=10
        ).status_code
        == 401
    )
