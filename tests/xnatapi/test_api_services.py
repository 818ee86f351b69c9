"""`/data/services/archive`, `validate-archive`, `prearchive/{move,delete,rebuild}`, per-session
actions, and imports straight into the archive: each through prearchive/operations.py."""

from __future__ import annotations

from pathlib import Path

import pydicom

from archive.models import File, ImageSession
from prearchive.models import PrearchiveSession, Status
from tests.factories import make_project
from tests.xnatapi.test_api_import import make_zip, post_import, study_members


def imported(client, subject="S9", session="E9", n=2, project="A") -> tuple[str, PrearchiveSession]:
    datasets, members = study_members(n)
    uri = post_import(
        client, make_zip(members), query=f"project={project}&subject={subject}&session={session}"
    )
    assert uri.status_code == 200, uri.content
    return uri.content.decode().strip(), PrearchiveSession.objects.get(label=session)


def test_archive_service_archives_with_new_labels_and_answers_the_uri(api, alice, project_a):
    client = api(alice)
    src, row = imported(client)
    response = client.post(f"/data/services/archive?src={src}&auto-archive=false&subject=SUBJ&session=SESS")
    assert response.status_code == 200, response.content
    assert response.content.decode() == "/data/archive/projects/A/subjects/SUBJ/experiments/SESS\r\n"
    assert not PrearchiveSession.objects.filter(pk=row.pk).exists()
    session = ImageSession.objects.get(project=project_a, label="SESS")
    assert session.subject.label == "SUBJ"
    files = File.objects.filter(resource__scan__session=session)
    assert files.count() == 2
    for f in files:
        ds = pydicom.dcmread(f.absolute_path)
        assert (str(ds.PatientName), ds.PatientID) == ("SUBJ", "SESS")
    # xnatpy reads the answer back with /data/archive rewritten to /data.
    item = client.get("/data/projects/A/subjects/SUBJ/experiments/SESS?format=json").json()["items"][0]
    assert item["data_fields"]["ID"] == session.accession_id


def test_src_without_data_prefix_and_form_body(api, alice, project_a):
    client = api(alice)
    src, _ = imported(client)
    response = client.post(
        "/data/services/archive",
        f"src={src.removeprefix('/data')}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert ImageSession.objects.filter(label="E9").exists()


def test_archiving_onto_an_existing_label_is_a_conflict_and_the_row_says_why(api, alice, project_a):
    client = api(alice)
    first, _ = imported(client, session="E1")
    assert client.post(f"/data/services/archive?src={first}").status_code == 200
    second, row = imported(client, session="E2")
    validation = client.post(f"/data/services/validate-archive?src={second}&session=E1&format=json")
    codes = {r["code"] for r in validation.json()["ResultSet"]["Result"]}
    assert "1" in codes
    response = client.post(f"/data/services/archive?src={second}&session=E1")
    assert response.status_code == 409
    row.refresh_from_db()
    assert row.status == Status.CONFLICT and row.status_reason
    assert ImageSession.objects.filter(label="E1").count() == 1


def test_others_may_not_archive(api, alice, carol, dave, project_a):
    src, row = imported(api(alice))
    assert api(carol).post(f"/data/services/archive?src={src}").status_code == 404
    assert api(dave).post(f"/data/services/archive?src={src}").status_code == 404
    row.refresh_from_db()
    assert row.status == Status.READY and not ImageSession.objects.exists()


def test_move_delete_and_rebuild(api, alice, project_a):
    client = api(alice)
    make_project("B", alice)
    src, row = imported(client)
    moved = client.post(f"/data/services/prearchive/move?src={src}&newProject=B&format=json")
    assert moved.status_code == 200, moved.content
    row.refresh_from_db()
    assert row.project_id == "B" and moved.json()["ResultSet"]["Result"][0]["project"] == "B"
    rebuilt = client.post(f"/data/services/prearchive/rebuild?src=/data{row.url}")
    assert rebuilt.status_code == 200
    folder = Path(row.folder)
    # pyxnat's delete: a form body, format=csv.
    deleted = client.post(
        "/data/services/prearchive/delete?format=csv",
        f"src={row.url}&async=false",
        content_type="application/x-www-form-urlencoded",
    )
    assert deleted.status_code == 200
    assert b"".join(deleted.streaming_content).decode().startswith("project,")
    assert not PrearchiveSession.objects.filter(pk=row.pk).exists() and not folder.exists()


def test_per_session_actions_and_delete(api, alice, project_a):
    client = api(alice)
    src, row = imported(client)
    reset = client.post(
        f"{src}?format=single", "action=build", content_type="application/x-www-form-urlencoded"
    )
    assert reset.status_code == 200
    assert client.post(f"{src}?action=nonsense").status_code == 400
    assert client.delete(src).status_code == 200
    assert not PrearchiveSession.objects.filter(pk=row.pk).exists()


def test_import_straight_into_the_archive(api, alice, project_a):
    _, members = study_members(2)
    response = post_import(
        api(alice), make_zip(members), query="dest=/archive/projects/A/subjects/S7/experiments/E7"
    )
    assert response.status_code == 200, response.content
    assert response.content.decode() == "/data/archive/projects/A/subjects/S7/experiments/E7\r\n"
    session = ImageSession.objects.get(project=project_a, label="E7")
    assert File.objects.filter(resource__scan__session=session).count() == 2
    assert not PrearchiveSession.objects.exists()


def test_import_into_an_auto_archive_project_answers_the_archived_session(transactional_db, api, alice):
    """As in a real request (no test transaction around it), the archive task runs once the import's
    rows are committed; without a broker it runs in the request, so the answer names the archive."""
    make_project("AUTO", alice, prearchive_code=4)
    _, members = study_members(2)
    response = post_import(api(alice), make_zip(members), query="project=AUTO&subject=S1&session=E1")
    assert response.status_code == 200, response.content
    assert response.content.decode() == "/data/archive/projects/AUTO/subjects/S1/experiments/E1\r\n"
    assert not PrearchiveSession.objects.exists()


def test_commit_that_auto_archives_redirects_to_the_archived_session(transactional_db, api, alice):
    """The Desktop Client's way (xnat-spec.md §9.2): import with prevent_auto_commit, then commit the
    prearchive URI; in an auto-archive project the commit answers 301 to the archived session."""
    make_project("AUTO", alice, prearchive_code=4)
    client = api(alice)
    _, members = study_members(2)
    query = "project=AUTO&subject=S2&session=E2&prevent_auto_commit=true&SOURCE=uploader"
    uri = post_import(client, make_zip(members), query=query).content.decode().strip()
    assert uri.startswith("/data/prearchive/projects/AUTO/") and not ImageSession.objects.exists()
    response = client.post(f"{uri}?action=commit&SOURCE=uploader")
    assert response.status_code == 301, response.content
    assert response["Location"].endswith("/data/archive/projects/AUTO/subjects/S2/experiments/E2")
    assert ImageSession.objects.filter(project_id="AUTO", label="E2").exists()
    assert not PrearchiveSession.objects.exists()
    # a commit in a project that keeps data for review answers its prearchive URI
    make_project("KEEP", alice)
    uri = post_import(client, make_zip(study_members(1)[1]), query=query.replace("AUTO", "KEEP"))
    uri = uri.content.decode().strip()
    response = client.post(f"{uri}?action=commit")
    assert response.status_code == 200 and response.content.decode() == uri + "\r\n"
    assert PrearchiveSession.objects.get(project_id="KEEP").status == Status.READY


def test_import_into_an_auto_archive_project_archives_it(api, alice, django_capture_on_commit_callbacks):
    make_project("AUTO", alice, prearchive_code=4)
    _, members = study_members(2)
    with django_capture_on_commit_callbacks(execute=True):  # the archive task is queued after commit
        response = post_import(api(alice), make_zip(members), query="project=AUTO&subject=S1&session=E1")
    assert response.status_code == 200
    assert ImageSession.objects.filter(project_id="AUTO", label="E1").exists()
    assert not PrearchiveSession.objects.exists()
