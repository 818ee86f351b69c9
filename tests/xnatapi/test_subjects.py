"""Subjects over REST: listings, one subject by label or accession ID, creation with PUT (201 and
its ID), fields by xpath, demographics, deletion; strangers get 404, collaborators 403."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from archive.models import ImageSession, Subject
from tests.xnatapi.conftest import rows
from xnatlite.models import AuditEvent


def test_subjects_listing_of_a_project(api, session_with_files, alice):
    subject = session_with_files["subject"]
    subjects = rows(api(alice).get("/data/projects/A/subjects?columns=ID,URI,label,xsiType&format=json"))
    assert subjects == [
        {
            "ID": subject.accession_id,
            "URI": f"/data/subjects/{subject.accession_id}",
            "label": "S1",
            "xsiType": "xnat:subjectData",
        }
    ]


def test_a_subject_as_an_items_document_by_accession_id(api, session_with_files, alice):
    session = session_with_files["session"]
    subject = api(alice).get(f"/data/subjects/{session.subject.accession_id}?format=json").json()["items"][0]
    assert subject["data_fields"]["label"] == "S1"


@pytest.mark.parametrize("path", ["/data/projects/A/subjects", "/data/projects/A/subjects/S1"])
def test_a_stranger_gets_404_for_a_private_project(api, session_with_files, dave, path):
    response = api(dave).get(path)
    assert response.status_code == 404 and response.content.startswith(b"Not Found")


def test_global_ids_of_someone_elses_subjects_are_404(api, session_with_files, dave):
    session = session_with_files["session"]
    assert api(dave).get(f"/data/subjects/{session.subject.accession_id}").status_code == 404


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


def test_collaborator_cannot_create_or_change_subjects(api, carol, session_with_files):
    client = api(carol)
    assert client.put("/data/projects/A/subjects/S2").status_code == 403
    assert client.put("/data/projects/A/subjects/S1?xnat:subjectData/group=x").status_code == 403
    assert not Subject.objects.filter(label="S2").exists()
    assert Subject.objects.get(label="S1").group == ""


def test_stranger_gets_404_for_subject_writes_too(api, dave, session_with_files):
    client = api(dave)
    assert client.put("/data/projects/A/subjects/S2").status_code == 404
    assert client.delete("/data/projects/A/subjects/S1").status_code == 404
    assert Subject.objects.filter(project_id="A").count() == 1


def test_owner_deletes_a_subject_with_its_sessions(api, alice, session_with_files):
    client = api(alice)
    assert client.delete("/data/projects/A/subjects/S1").status_code == 200
    assert not Subject.objects.exists() and not ImageSession.objects.exists()
    assert client.delete("/data/projects/A/subjects/S1").status_code == 404
