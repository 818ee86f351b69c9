"""Experiments (image sessions) over REST: listings of a project, a subject or all, one session by
label or accession ID (JSON and XML), creation under a subject, fields, custom variables, relabelling
and deletion; constant query counts; strangers get 404, members may not delete."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive.models import File, ImageSession
from tests.factories import ImageSessionFactory, make_project, make_subject
from tests.xnatapi.conftest import body, rows
from xnatapi.models import CustomVariable
from xnatlite.models import AuditEvent


def test_experiment_listings_by_id_or_label(api, session_with_files, alice):
    client = api(alice)
    subject, session = session_with_files["subject"], session_with_files["session"]
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


def test_an_experiment_as_an_items_document_and_as_xml(api, session_with_files, alice):
    client = api(alice)
    session = session_with_files["session"]
    item = client.get("/data/projects/A/subjects/S1/experiments/MR1?format=json").json()["items"][0]
    assert item["meta"]["xsi:type"] == "xnat:mrSessionData"
    assert item["data_fields"]["subject_ID"] == session.subject.accession_id
    assert item["data_fields"]["ID"] == session.accession_id
    xml = client.get(f"/data/experiments/{session.accession_id}?format=xml").content.decode()
    assert xml.startswith("<?xml") and 'label="MR1"' in xml


def test_a_stranger_gets_404_for_a_private_project(api, session_with_files, dave):
    response = api(dave).get("/data/projects/A/experiments")
    assert response.status_code == 404 and response.content.startswith(b"Not Found")


def test_global_ids_of_someone_elses_experiments_are_404(api, session_with_files, dave):
    session = session_with_files["session"]
    assert api(dave).get(f"/data/experiments/{session.accession_id}").status_code == 404
    assert [r["ID"] for r in rows(api(dave).get("/data/experiments"))] == []


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


def test_experiment_creation_and_fields(api, alice, project_a):
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


def test_collaborator_cannot_delete_a_session(api, carol, session_with_files):
    assert api(carol).delete("/data/projects/A/subjects/S1/experiments/MR1").status_code == 403
    assert (
        ImageSession.objects.filter(label="MR1").exists()
        and Path(session_with_files["session"].folder).is_dir()
    )


def test_member_may_create_but_not_delete(api, bob, session_with_files):
    client = api(bob)
    assert client.put("/data/projects/A/subjects/S2").status_code == 201
    response = client.delete("/data/projects/A/subjects/S1/experiments/MR1?removeFiles=true")
    assert response.status_code == 403
    assert ImageSession.objects.filter(label="MR1").exists()


def test_owner_deletes_a_session_with_200_empty_and_its_folder_goes(api, alice, session_with_files):
    session = session_with_files["session"]
    folder = Path(session.folder)
    response = api(alice).delete("/data/projects/A/subjects/S1/experiments/MR1?removeFiles=true")
    assert (response.status_code, response.content) == (200, b"")
    assert not ImageSession.objects.filter(pk=session.pk).exists() and not File.objects.exists()
    assert not folder.exists()
    assert AuditEvent.objects.filter(action="archive.session.deleted").count() == 1


def test_custom_variables_are_set_read_back_and_cleared(api, alice, session_with_files, carol):

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
