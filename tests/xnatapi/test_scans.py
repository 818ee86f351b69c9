"""Scans over REST: the listing, one scan, creation and deletion, and downloads by scan selection
(`1`, `1,2`, `ALL`, a type) as zips in XNAT's layout; strangers get 404, collaborators download."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.models import ImageSession, Scan
from tests.dicomgen import pydicom_test_file
from tests.xnatapi.conftest import rows, zip_of


def test_scans_listing(api, session_with_files, alice):
    session = session_with_files["session"]
    scans = rows(api(alice).get(f"/data/experiments/{session.accession_id}/scans?format=json"))
    assert [(s["ID"], s["type"], s["xsiType"]) for s in scans] == [("1", "T1w", "xnat:mrScanData")]
    assert scans[0]["URI"] == f"/data/experiments/{session.accession_id}/scans/1"


def test_a_scan_as_an_items_document(api, session_with_files, alice):
    session = session_with_files["session"]
    scan = api(alice).get(f"/data/experiments/{session.accession_id}/scans/1?format=json").json()["items"][0]
    assert scan["data_fields"]["type"] == "T1w"


@pytest.mark.parametrize(
    "path",
    [
        "/data/projects/A/subjects/S1/experiments/MR1/scans",
        "/data/projects/A/subjects/S1/experiments/MR1/scans/ALL/files?format=zip",
    ],
)
def test_a_stranger_gets_404_for_a_private_project(api, session_with_files, dave, path):
    response = api(dave).get(path)
    assert response.status_code == 404 and response.content.startswith(b"Not Found")


def test_collaborator_reads_and_downloads(api, session_with_files, carol):
    client = api(carol)
    assert len(rows(client.get("/data/projects/A/subjects/S1/experiments/MR1/scans"))) == 1
    assert (
        client.get("/data/projects/A/subjects/S1/experiments/MR1/scans/1/files?format=zip").status_code == 200
    )


def test_scan_creation_with_xnatpys_type_as_id(api, alice, project_a):
    client = api(alice)
    subject_id = client.put("/data/projects/A/subjects/S1").content.decode()
    client.put(f"/data/archive/projects/A/subjects/{subject_id}/experiments/E1?xsiType=xnat:mrSessionData")
    session = ImageSession.objects.get(project=project_a, label="E1")
    scan = client.put(
        "/data/projects/A/subjects/S1/experiments/E1/scans/T1?xsiType=xnat:mrScanData&xnat:mrScanData/type=T1"
    )
    assert (scan.status_code, scan.content) == (201, b"T1")
    assert Scan.objects.get(session=session, scan_id="T1").type == "T1"


def test_owner_deletes_a_scan_and_its_folder(api, alice, session_with_files):
    session = session_with_files["session"]
    scan_folder = Path(session.folder) / "SCANS" / "1"
    assert scan_folder.is_dir()
    assert api(alice).delete(f"/data/experiments/{session.accession_id}/scans/1").status_code == 200
    assert not scan_folder.exists() and not Scan.objects.exists()


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


def test_empty_selection_gives_an_empty_listing_and_an_empty_zip(api, alice, session_with_files):
    listing = api(alice).get("/data/projects/A/subjects/S1/experiments/MR1/scans/99/files?format=json")
    assert listing.status_code == 404
    all_files = api(alice).get("/data/projects/A/subjects/S1/experiments/MR1/scans/ALL/files?format=json")
    assert len(all_files.json()["ResultSet"]["Result"]) == 2


def test_put_names_one_scan_by_id_even_when_another_has_that_type(api, alice, session_with_files):
    """xnatpy creates a scan with its type as the ID; scan 1 is of type T1w already (this answered 405)."""
    session = session_with_files["session"]
    url = (
        f"/data/experiments/{session.accession_id}/scans/T1w?xsiType=xnat:mrScanData&xnat:mrScanData/type=T1w"
    )
    response = api(alice).put(url)
    assert (response.status_code, response.content) == (201, b"T1w")
    assert sorted(Scan.objects.filter(session=session).values_list("scan_id", "type")) == [
        ("1", "T1w"),
        ("T1w", "T1w"),
    ]
