"""Creating, modifying and deleting with PUT/POST/DELETE and query strings; resource file uploads.
Each write is checked in the database, on disk and in the audit trail; the roles are checked too
(collaborators may not write, members may not delete, strangers get 404)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlencode

import pytest

from archive.models import File, ImageSession, Resource, Scan, Subject
from xnatlite.models import AuditEvent


def test_put_creates_a_subject_answering_201_and_its_id(api, alice, project_a):
    response = api(alice).put(
        "/data/projects/A/subjects/S1?xsiType=xnat:subjectData&req_format=qs&xnat:subjectData/label=S1"
    )
    assert response.status_code == 201
    subject = Subject.objects.get(project=project_a, label="S1")
    assert response.content.decode() == subject.accession_id
    again = api(alice).put("/data/projects/A/subjects/S1?xsiType=xnat:subjectData")
    assert (again.status_code, again.content.decode()) == (200, subject.accession_id)
    assert Subject.objects.count() == 1
    assert AuditEvent.objects.filter(
        action="archive.subject.created", object_id=subject.accession_id
    ).exists()


def test_put_sets_fields_by_xpath_demographics_and_clears_with_null(api, alice, project_a):
    client = api(alice)
    subject_id = client.put("/data/projects/A/subjects/S1").content.decode()
    url = f"/data/archive/projects/A/subjects/{subject_id}"
    assert client.put(url + "?xsiType=xnat:subjectData&xnat:subjectData/group=control").status_code == 200
    demographics = urlencode(
        {"xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/gender": "female"}
    )
    assert client.put(f"{url}?xsiType=xnat:subjectData&{demographics}").status_code == 200
    subject = Subject.objects.get(accession_id=subject_id)
    assert (subject.group, subject.gender) == ("control", "female")
    children = client.get(url + "?format=json").json()["items"][0]["children"]
    assert (
        children[0]["field"] == "demographics"
        and children[0]["items"][0]["data_fields"]["gender"] == "female"
    )
    assert client.put(url + "?xnat:subjectData/group=NULL").status_code == 200
    subject.refresh_from_db()
    assert subject.group == ""
    bad = client.put(url + "?xnat:subjectData/shoe_size=44")
    assert bad.status_code == 400 and "shoe_size" in bad.content.decode()


def test_experiment_and_scan_creation_and_fields(api, alice, project_a):
    client = api(alice)
    subject_id = client.put("/data/projects/A/subjects/S1").content.decode()
    response = client.put(
        f"/data/archive/projects/A/subjects/{subject_id}/experiments/E1"
        "?xsiType=xnat:mrSessionData&req_format=qs&xnat:mrSessionData/label=E1"
    )
    assert response.status_code == 201
    session = ImageSession.objects.get(project=project_a, label="E1")
    assert response.content.decode() == session.accession_id and session.xsi_type == "xnat:mrSessionData"
    client.put(f"/data/experiments/{session.accession_id}?xnat:mrSessionData/date=2024-03-04")
    session.refresh_from_db()
    assert str(session.date) == "2024-03-04"
    scan = client.put(
        "/data/projects/A/subjects/S1/experiments/E1/scans/T1?xsiType=xnat:mrScanData&xnat:mrScanData/type=T1"
    )
    assert (scan.status_code, scan.content) == (201, b"T1")
    assert Scan.objects.get(session=session, scan_id="T1").type == "T1"
    assert client.put("/data/projects/A/experiments/E2?xsiType=xnat:mrSessionData").status_code == 400


def test_relabel_renames_the_folder(api, alice, session_with_files):
    session = session_with_files["session"]
    old_folder = Path(session.folder)
    assert old_folder.is_dir()
    response = api(alice).put("/data/projects/A/subjects/S1/experiments/MR1?label=MR1b")
    assert response.status_code == 200
    session.refresh_from_db()
    assert session.label == "MR1b" and not old_folder.exists() and Path(session.folder).is_dir()
    for file in File.objects.filter(resource__scan__session=session):
        assert file.absolute_path.is_file() and "/MR1b/" in file.path


def test_collaborator_cannot_put_or_delete(api, carol, session_with_files):
    client = api(carol)
    assert client.put("/data/projects/A/subjects/S2").status_code == 403
    assert client.put("/data/projects/A/subjects/S1?xnat:subjectData/group=x").status_code == 403
    assert client.delete("/data/projects/A/subjects/S1/experiments/MR1").status_code == 403
    assert client.put("/data/projects/A/subjects/S1/experiments/MR1/resources/X").status_code == 403
    assert not Subject.objects.filter(label="S2").exists()
    assert (
        ImageSession.objects.filter(label="MR1").exists()
        and Path(session_with_files["session"].folder).is_dir()
    )
    assert Subject.objects.get(label="S1").group == ""


def test_member_may_create_but_not_delete(api, bob, session_with_files):
    client = api(bob)
    assert client.put("/data/projects/A/subjects/S2").status_code == 201
    response = client.delete("/data/projects/A/subjects/S1/experiments/MR1?removeFiles=true")
    assert response.status_code == 403
    assert ImageSession.objects.filter(label="MR1").exists()


def test_stranger_gets_404_for_writes_too(api, dave, session_with_files):
    client = api(dave)
    assert client.put("/data/projects/A/subjects/S2").status_code == 404
    assert client.delete("/data/projects/A/subjects/S1").status_code == 404
    assert (
        client.put(
            "/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/x.txt",
            b"x",
            content_type="application/octet-stream",
        ).status_code
        == 404
    )
    assert Subject.objects.filter(project_id="A").count() == 1


def test_owner_deletes_a_session_with_200_empty_and_its_folder_goes(api, alice, session_with_files):
    session = session_with_files["session"]
    folder = Path(session.folder)
    response = api(alice).delete("/data/projects/A/subjects/S1/experiments/MR1?removeFiles=true")
    assert (response.status_code, response.content) == (200, b"")
    assert not ImageSession.objects.filter(pk=session.pk).exists() and not File.objects.exists()
    assert not folder.exists()
    assert AuditEvent.objects.filter(action="archive.session.deleted").count() == 1


def test_owner_deletes_a_subject_scan_resource_and_file(api, alice, session_with_files):
    client = api(alice)
    session = session_with_files["session"]
    base = f"/data/experiments/{session.accession_id}"
    notes = File.objects.get(name="notes.txt")
    assert client.delete(f"{base}/resources/NOTES/files/notes.txt").status_code == 200
    assert not notes.absolute_path.exists() and not File.objects.filter(pk=notes.pk).exists()
    assert client.delete(f"{base}/resources/NOTES").status_code == 200
    assert not Resource.objects.filter(label="NOTES").exists()
    scan_folder = Path(session.folder) / "SCANS" / "1"
    assert client.delete(f"{base}/scans/1").status_code == 200
    assert not scan_folder.exists() and not Scan.objects.exists()
    assert client.delete("/data/projects/A/subjects/S1").status_code == 200
    assert not Subject.objects.exists() and not ImageSession.objects.exists()
    assert client.delete("/data/projects/A/subjects/S1").status_code == 404


def test_resource_creation_and_raw_put_upload(api, alice, session_with_files):
    client = api(alice)
    session = session_with_files["session"]
    created = client.put(f"/data/experiments/{session.accession_id}/resources/XCHK?format=TXT")
    assert created.status_code == 201
    resource = Resource.objects.get(session=session, label="XCHK")
    assert resource.format == "TXT"
    listed = client.get(f"/data/experiments/{session.accession_id}/resources").json()["ResultSet"]["Result"]
    assert {r["label"] for r in listed} == {"NOTES", "XCHK"}
    url = f"/data/experiments/{session.accession_id}/resources/{resource.pk}/files/notes/hello.txt"
    response = client.put(url + "?content=NOTE&tags=a", b"hello\n", content_type="application/octet-stream")
    assert response.status_code == 200
    file = File.objects.get(resource=resource)
    assert (file.name, file.content, file.tags, file.size) == ("notes/hello.txt", "NOTE", "a", 6)
    assert file.absolute_path.read_bytes() == b"hello\n"
    assert file.absolute_path == Path(session.folder) / "RESOURCES" / "XCHK" / "notes" / "hello.txt"
    # Existing file without overwrite: 409, file untouched; with overwrite: replaced.
    conflict = client.put(url, b"other\n", content_type="application/octet-stream")
    assert conflict.status_code == 409 and file.absolute_path.read_bytes() == b"hello\n"
    assert (
        client.put(url + "?overwrite=true", b"other\n", content_type="application/octet-stream").status_code
        == 200
    )
    file.refresh_from_db()
    assert file.absolute_path.read_bytes() == b"other\n" and file.size == 6
    assert not list(file.absolute_path.parent.glob(".upload-*"))


def test_pyxnat_style_post_inbody_upload(api, alice, session_with_files):
    session = session_with_files["session"]
    url = "/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/up.txt"
    response = api(alice).post(
        url + "?format=TXT&content=NOTE&tags=U&overwrite=false&inbody=true", b"data", content_type=""
    )
    assert response.status_code == 200
    assert File.objects.get(name="up.txt", resource__session=session).absolute_path.read_bytes() == b"data"


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_extract_unpacks_an_archive_into_the_resource(api, alice, session_with_files, kind):
    buffer = io.BytesIO()
    members = {"a.txt": b"A", "sub/b.txt": b"B"}
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    url = f"/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/upload.{kind}?extract=true"
    assert api(alice).put(url, buffer.getvalue(), content_type="application/octet-stream").status_code == 200
    stored = {
        f.name: f.absolute_path.read_bytes()
        for f in File.objects.filter(resource=session_with_files["notes"])
    }
    assert stored == {"notes.txt": b"hello\n", **members}


def test_extract_refuses_hostile_members_and_writes_nothing_outside(
    api, alice, session_with_files, data_root
):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.txt", b"ok")
        archive.writestr("../../escape.txt", b"evil")
    url = "/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/x.zip?extract=true"
    response = api(alice).put(url, buffer.getvalue(), content_type="application/octet-stream")
    assert response.status_code == 400 and "escape.txt" in response.content.decode()
    assert not any(p.name == "escape.txt" for p in data_root.parent.rglob("escape.txt"))
    assert not list((data_root / "cache").rglob("*.txt")) if (data_root / "cache").exists() else True


def test_bad_file_names_are_refused(api, alice, session_with_files):
    url = "/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/.hidden"
    assert api(alice).put(url, b"x", content_type="application/octet-stream").status_code == 400


def test_custom_variables_are_set_read_back_and_cleared(api, alice, session_with_files, carol):
    from xnatapi.models import CustomVariable

    url = "/data/projects/A/subjects/S1/experiments/MR1"
    key = urlencode({"xnat:mrSessionData/fields/field[name=Visit]/field": "baseline"})
    assert api(alice).put(f"{url}?xsiType=xnat:mrSessionData&{key}").status_code == 200
    assert CustomVariable.objects.get(session=session_with_files["session"]).value == "baseline"
    children = api(alice).get(url + "?format=json").json()["items"][0]["children"]
    assert children == [
        {
            "field": "fields/field",
            "items": [
                {
                    "meta": {"xsi:type": "xnat:experimentData_field", "isHistory": False},
                    "data_fields": {"name": "visit", "field": "baseline"},
                    "children": [],
                }
            ],
        }
    ]
    assert api(carol).put(f"{url}?{key}").status_code == 403
    cleared = urlencode({"xnat:mrSessionData/fields/field[name=visit]/field": "NULL"})
    assert api(alice).put(f"{url}?{cleared}").status_code == 200
    assert not CustomVariable.objects.exists()
