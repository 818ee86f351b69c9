"""Listings and single objects: JSON envelope, CSV with header, XML, columns, filters, ID-or-label,
`/data/archive` alias, permissions (private project = 404), and constant query counts."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive.services.resources import store_file
from archive.services.subjects import update_subject
from tests.factories import TESTS, ImageSessionFactory, make_project, make_subject


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["ResultSet"]["Result"]


def test_projects_listing_shows_only_visible_projects(api, cast):
    result = rows(api(cast["alice"]).get("/data/archive/projects?columns=ID,URI,name&format=json"))
    assert [(r["ID"], r["URI"], r["name"]) for r in result] == [("A", "/data/projects/A", "Project A")]
    assert [r["ID"] for r in rows(api(cast["dave"]).get("/data/projects"))] == ["D"]
    assert {r["ID"] for r in rows(api(cast["root"]).get("/data/projects"))} == {"A", "D"}


def test_csv_always_has_a_header_even_with_no_rows(api, session_with_files, alice):
    response = api(alice).get("/data/projects/A/subjects/S1/experiments/MR1/scans/1/resources?format=csv")
    header = body(response).decode().splitlines()[0]
    assert header.startswith("xnat_abstractresource_id,label")
    empty = api(alice).get("/data/projects/A/subjects?format=csv&label=nobody*")
    assert empty.status_code == 200
    lines = b"".join(empty.streaming_content).decode().splitlines()
    assert lines == ["ID,project,label,insert_date,insert_user,URI"]


def test_subject_experiment_scan_listings_by_id_or_label(api, session_with_files, alice):
    client = api(alice)
    subject, session = session_with_files["subject"], session_with_files["session"]
    subjects = rows(client.get("/data/projects/A/subjects?columns=ID,URI,label,xsiType&format=json"))
    assert subjects == [
        {
            "ID": subject.accession_id,
            "URI": f"/data/subjects/{subject.accession_id}",
            "label": "S1",
            "xsiType": "xnat:subjectData",
        }
    ]
    for path in (
        "/data/projects/A/subjects/S1/experiments",
        f"/data/archive/projects/A/subjects/{subject.accession_id}/experiments",
        "/data/projects/A/experiments",
        "/data/experiments",
    ):
        result = rows(client.get(path + "?columns=ID,URI,label,xsiType&format=json"))
        assert [(r["ID"], r["label"], r["xsiType"]) for r in result] == [
            (session.accession_id, "MR1", "xnat:mrSessionData")
        ], path
    scans = rows(client.get(f"/data/experiments/{session.accession_id}/scans?format=json"))
    assert [(s["ID"], s["type"], s["xsiType"]) for s in scans] == [("1", "T1w", "xnat:mrScanData")]
    assert scans[0]["URI"] == f"/data/experiments/{session.accession_id}/scans/1"


def test_files_listing_has_uri_name_size_and_md5_digest(api, session_with_files, alice):
    from tests.xnatapi.conftest import md5

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


def test_xpath_columns_and_wildcard_filters(api, session_with_files, alice, project_a):

    update_subject(session_with_files["subject"], by=alice, group="control")
    make_subject(project_a, "S2")
    client = api(alice)
    result = rows(client.get("/data/projects/A/subjects?format=json&columns=ID,xnat:subjectData/group"))
    assert {r["xnat:subjectData/group"] for r in result} == {"control", ""}
    assert [r["label"] for r in rows(client.get("/data/projects/A/subjects?columns=label&label=s2"))] == [
        "S2"
    ]
    assert len(rows(client.get("/data/projects/A/subjects?columns=label&label=S*"))) == 2


def test_xml_and_html_listings(api, session_with_files, alice):
    xml = b"".join(api(alice).get("/data/projects?format=xml").streaming_content).decode()
    assert xml.startswith("<?xml") and "<cell>A</cell>" in xml
    html = b"".join(api(alice).get("/data/projects?format=html").streaming_content).decode()
    assert "<td>A</td>" in html
    assert api(alice).get("/data/projects?format=bogus").status_code == 400


def test_single_objects_as_items_documents(api, session_with_files, alice):
    client = api(alice)
    session = session_with_files["session"]
    item = client.get("/data/projects/A/subjects/S1/experiments/MR1?format=json").json()["items"][0]
    assert item["meta"]["xsi:type"] == "xnat:mrSessionData"
    assert item["data_fields"]["subject_ID"] == session.subject.accession_id
    assert item["data_fields"]["ID"] == session.accession_id
    subject = client.get(f"/data/subjects/{session.subject.accession_id}?format=json").json()["items"][0]
    assert subject["data_fields"]["label"] == "S1"
    project = client.get("/data/projects/A?format=json").json()["items"][0]
    assert project["data_fields"]["ID"] == "A"
    scan = client.get(f"/data/experiments/{session.accession_id}/scans/1?format=json").json()["items"][0]
    assert scan["data_fields"]["type"] == "T1w"
    xml = client.get(f"/data/experiments/{session.accession_id}?format=xml").content.decode()
    assert xml.startswith("<?xml") and 'label="MR1"' in xml


@pytest.mark.parametrize(
    "path",
    [
        "/data/projects/A",
        "/data/projects/A/subjects",
        "/data/projects/A/subjects/S1",
        "/data/projects/A/experiments",
        "/data/projects/A/subjects/S1/experiments/MR1/scans",
        "/data/projects/A/subjects/S1/experiments/MR1/scans/ALL/files?format=zip",
    ],
)
def test_a_stranger_gets_404_for_a_private_project(api, session_with_files, dave, path):
    response = api(dave).get(path)
    assert response.status_code == 404 and response.content.startswith(b"Not Found")


def test_global_ids_of_someone_elses_data_are_404(api, session_with_files, dave):
    session = session_with_files["session"]
    assert api(dave).get(f"/data/experiments/{session.accession_id}").status_code == 404
    assert api(dave).get(f"/data/subjects/{session.subject.accession_id}").status_code == 404
    assert [r["ID"] for r in rows(api(dave).get("/data/experiments"))] == []


def test_protected_project_is_listed_but_its_data_refused(api, dave, alice, project_a):
    from xnatlite import projects

    projects.update_project(project_a, by=alice, accessibility="protected")
    assert "A" in [r["ID"] for r in rows(api(dave).get("/data/projects"))]
    assert api(dave).get("/data/projects/A?format=json").status_code == 200
    assert api(dave).get("/data/projects/A/subjects").status_code == 403


def test_collaborator_reads_and_downloads(api, session_with_files, carol):
    client = api(carol)
    assert len(rows(client.get("/data/projects/A/subjects/S1/experiments/MR1/scans"))) == 1
    assert (
        client.get("/data/projects/A/subjects/S1/experiments/MR1/scans/1/files?format=zip").status_code == 200
    )


def _experiment_queries(client, n: int, project) -> int:
    subject = make_subject(project, f"BULK{n}")
    for _ in range(n - project.sessions.count()):
        ImageSessionFactory(project=project, subject=subject)
    client.get("/data/projects")  # warm the session and permission caches
    with CaptureQueriesContext(connection) as queries:
        for fmt in ("json", "csv"):
            response = client.get(
                f"/data/projects/{project.id}/experiments?format={fmt}&columns=ID,label,subject_label"
            )
            assert body(response).count(b"_E") >= n
    return len(queries)


def test_listing_queries_do_not_grow_with_rows(api, alice):
    client = api(alice)
    project = make_project("Q", alice)
    small = _experiment_queries(client, 10, project)
    large = _experiment_queries(client, 500, project)
    assert large == small


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


def test_csv_quotes_values(api, alice, project_a):
    subject = make_subject(project_a, "S1")

    update_subject(subject, by=alice, group='a,"b"')
    text = b"".join(
        api(alice).get("/data/projects/A/subjects?format=csv&columns=label,group").streaming_content
    )
    parsed = list(csv.DictReader(io.StringIO(text.decode())))
    assert parsed[0]["group"] == 'a,"b"'
