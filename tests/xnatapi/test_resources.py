"""Resources and files over REST: listings with MD5 digests, zips, single files (GET, HEAD), creation,
raw PUT and pyxnat POST uploads, archive extraction, deletion; strangers get 404."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive.models import File, Resource
from archive.services.resources import store_file
from tests.dicomgen import pydicom_test_file
from tests.factories import TESTS
from tests.xnatapi.conftest import body, md5, rows, zip_of


def test_files_listing_has_uri_name_size_and_md5_digest(api, session_with_files, alice):

    dicom = session_with_files["dicom"]
    result = rows(
        api(alice).get(
            f"/data/experiments/{session_with_files['session'].accession_id}/scans/1/resources/{dicom.pk}/files"
        )
    )
    assert sorted(r["Name"] for r in result) == ["CT_small.dcm", "MR_small.dcm"]
    for row in result:
        file = dicom.files.get(name=row["Name"])
        assert row["digest"] == md5(file.absolute_path) == file.md5
        assert row["Size"] == str(file.absolute_path.stat().st_size)
        assert row["URI"].startswith("/data/") and row["URI"].endswith("/files/" + row["Name"])
        assert api(alice).get(row["URI"]).status_code == 200


def test_resource_and_file_listing_queries_do_not_grow(api, alice, session_with_files):
    client = api(alice)
    dicom = session_with_files["dicom"]
    url = f"/data/experiments/{session_with_files['session'].accession_id}/scans/1/resources/DICOM/files"

    def count() -> int:
        client.get("/data/projects")  # warm the session and permission caches
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
            assert (
                body(client.get(url.rsplit("/", 2)[0] + "?format=csv")).count(b",DICOM,xnat:resourceCatalog,")
                == 1
            )
        return len(queries)

    before = count()
    for n in range(30):
        store_file(dicom, f"extra/{n}.txt", io.BytesIO(b"x"), by=TESTS)
    assert count() == before


def test_experiment_files_zip_includes_session_resources(api, alice, session_with_files):
    archive = zip_of(api(alice).get("/data/projects/A/subjects/S1/experiments/MR1/files?format=zip"))
    assert "MR1/resources/NOTES/files/notes.txt" in archive.namelist()
    assert archive.read("MR1/resources/NOTES/files/notes.txt") == b"hello\n"


def test_resource_zip(api, alice, session_with_files):
    dicom = session_with_files["dicom"]
    url = f"/data/experiments/{session_with_files['session'].accession_id}/scans/1/resources/{dicom.pk}/files?format=zip"
    assert len(zip_of(api(alice).get(url)).namelist()) == 2


def test_single_file_get_and_head(api, alice, session_with_files):
    url = "/data/projects/A/subjects/S1/experiments/MR1/scans/1/resources/DICOM/files/MR_small.dcm"
    expected = pydicom_test_file("MR_small.dcm").read_bytes()
    response = api(alice).get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == expected
    head = api(alice).head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(len(expected))
    assert api(alice).get(url.replace("MR_small", "nothing")).status_code == 404


def test_a_stranger_gets_404_for_resources_and_files(api, session_with_files, dave):
    session = session_with_files["session"]
    for path in (
        f"/data/experiments/{session.accession_id}/resources",
        "/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files",
        "/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/notes.txt",
        "/data/projects/A/resources",
    ):
        response = api(dave).get(path)
        assert response.status_code == 404 and response.content.startswith(b"Not Found"), path


def test_collaborator_cannot_create_a_resource(api, carol, session_with_files):
    assert api(carol).put("/data/projects/A/subjects/S1/experiments/MR1/resources/X").status_code == 403
    assert not Resource.objects.filter(label="X").exists()


def test_stranger_gets_404_for_uploads_too(api, dave, session_with_files):
    response = api(dave).put(
        "/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/x.txt",
        b"x",
        content_type="application/octet-stream",
    )
    assert response.status_code == 404
    assert not File.objects.filter(name="x.txt").exists()


def test_owner_deletes_a_file_and_a_resource(api, alice, session_with_files):
    client = api(alice)
    base = f"/data/experiments/{session_with_files['session'].accession_id}"
    notes = File.objects.get(name="notes.txt")
    assert client.delete(f"{base}/resources/NOTES/files/notes.txt").status_code == 200
    assert not notes.absolute_path.exists() and not File.objects.filter(pk=notes.pk).exists()
    assert client.delete(f"{base}/resources/NOTES").status_code == 200
    assert not Resource.objects.filter(label="NOTES").exists()


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
