"""Downloads: zips in XNAT's layout (streamed, no Content-Length), single files with HEAD, and the
stdlib-only streaming zip writer itself."""

from __future__ import annotations

import io
import zipfile

from archive import downloads
from tests.conftest import pydicom_test_file


def zip_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response.streaming and not response.has_header("Content-Length")
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_session_zip_has_xnats_layout_and_the_stored_bytes(api, alice, session_with_files):
    session = session_with_files["session"]
    for path in (
        f"/data/archive/projects/A/subjects/{session.subject.accession_id}/experiments/{session.accession_id}/scans/ALL/files?format=zip",
        "/data/projects/A/subjects/S1/experiments/MR1/scans/1/files?format=zip",
        "/data/projects/A/subjects/S1/experiments/MR1/scans/T1w/files?format=zip",
        "/data/projects/A/subjects/S1/experiments/MR1/scans/1,2/files?format=zip",
    ):
        archive = zip_of(api(alice).get(path))
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == [
            "MR1/scans/1-T1w/resources/DICOM/files/CT_small.dcm",
            "MR1/scans/1-T1w/resources/DICOM/files/MR_small.dcm",
        ], path
        for name in ("CT_small.dcm", "MR_small.dcm"):
            data = archive.read(f"MR1/scans/1-T1w/resources/DICOM/files/{name}")
            assert data == pydicom_test_file(name).read_bytes()


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


def test_empty_selection_gives_an_empty_listing_and_an_empty_zip(api, alice, session_with_files):
    listing = api(alice).get("/data/projects/A/subjects/S1/experiments/MR1/scans/99/files?format=json")
    assert listing.status_code == 404
    all_files = api(alice).get("/data/projects/A/subjects/S1/experiments/MR1/scans/ALL/files?format=json")
    assert len(all_files.json()["ResultSet"]["Result"]) == 2


def test_stream_zip_writes_a_valid_zip_in_small_chunks(tmp_path):
    paths = []
    for n in range(3):
        path = tmp_path / f"f{n}.bin"
        path.write_bytes(bytes([n]) * (3 * downloads.CHUNK + 17))
        paths.append(path)
    chunks = list(downloads.stream_zip(downloads.Entry(f"dir/f{n}.bin", p) for n, p in enumerate(paths)))
    # No chunk holds much more than one read: memory stays flat whatever the total size.
    assert max(len(c) for c in chunks) <= downloads.CHUNK + 4096
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    for n, path in enumerate(paths):
        assert archive.read(f"dir/f{n}.bin") == path.read_bytes()
