"""The prearchive over REST: `/data/prearchive/projects[/...]`, one session (row, zip, actions), its
scans, resources and files; collaborators and strangers get 404, Unassigned is for site admins."""

from __future__ import annotations

from archive.models import ImageSession
from prearchive.models import PrearchiveSession, Status
from tests.dicomgen import make_study
from tests.factories import make_project
from tests.xnatapi.conftest import dicom_bytes, imported, make_zip, post_import, rows, study_members


def test_it_reads_the_row_back_as_xnatpy_does(api, alice, project_a):
    _, members = study_members(2)
    client = api(alice)
    uri = post_import(client, make_zip(members)).content.decode().strip()
    row = client.get(uri + "?format=json").json()["ResultSet"]["Result"]
    assert len(row) == 1 and row[0]["name"] == "E9" and row[0]["status"] == "READY"
    assert row[0]["url"] == uri.removeprefix("/data")
    scans = client.get(uri + "/scans?format=json").json()["ResultSet"]["Result"]
    assert [s["ID"] for s in scans] == ["1"]
    files = client.get(uri + "/scans/1/resources/DICOM/files?format=json").json()["ResultSet"]["Result"]
    assert len(files) == 2
    assert client.get(files[0]["URI"]).status_code == 200


def test_others_get_404_for_a_projects_prearchive_sessions(api, alice, carol, dave, project_a):
    src, row = imported(api(alice))
    for client in (api(carol), api(dave)):
        assert client.get(src + "?format=json").status_code == 404
        assert client.get(src + "/scans").status_code == 404
        assert client.get(src + "/scans/1/resources/DICOM/files").status_code == 404
        assert client.delete(src).status_code == 404
        assert client.post(src + "?action=build").status_code == 404
    # The listing: a stranger learns nothing, a collaborator may read the project but not its prearchive.
    assert api(dave).get("/data/prearchive/projects/A").status_code == 404
    assert api(carol).get("/data/prearchive/projects/A").status_code == 403
    assert [r["name"] for r in rows(api(dave).get("/data/prearchive/projects"))] == []
    row.refresh_from_db()
    assert row.status == Status.READY


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


def test_scans_are_listed_in_the_uis_order_numbers_first(api, alice, project_a):
    datasets = make_study(n_series=3, n_instances=1, series_numbers=[10, 2, 1])
    members = [(f"study/{n}.dcm", dicom_bytes(ds)) for n, ds in enumerate(datasets)]
    client = api(alice)
    uri = post_import(client, make_zip(members)).content.decode().strip()
    scans = client.get(uri + "/scans?format=json").json()["ResultSet"]["Result"]
    assert [s["ID"] for s in scans] == ["1", "2", "10"]
    assert PrearchiveSession.objects.get().file_count == 3


def test_unassigned_rows_are_listed_for_site_admins_and_their_uploaders(api, alice, dave, root, project_a):
    unassigned = PrearchiveSession.objects.create(
        project=None, timestamp="20240102_101500123", folder_name="EU", label="EU", study_instance_uid="1.2"
    )
    alices = PrearchiveSession.objects.create(
        project=None, timestamp="20240102_101500124", folder_name="AU", label="AU", uploaded_by=alice
    )
    rows = api(root).get("/data/prearchive/projects/Unassigned?format=json").json()["ResultSet"]["Result"]
    assert [(r["project"], r["name"]) for r in rows] == [("Unassigned", "AU"), ("Unassigned", "EU")]
    # An account sees the Unassigned sessions it uploaded, and no other (issue 14).
    rows = api(alice).get("/data/prearchive/projects/Unassigned,A?format=json").json()["ResultSet"]["Result"]
    assert [(r["project"], r["name"]) for r in rows] == [("Unassigned", "AU")]
    assert (
        api(alice).get(f"/data/prearchive/projects/Unassigned/{unassigned.timestamp}/EU").status_code == 404
    )
    assert api(alice).get(f"/data/prearchive/projects/Unassigned/{alices.timestamp}/AU").status_code == 200
    assert api(dave).get(f"/data/prearchive/projects/Unassigned/{alices.timestamp}/AU").status_code == 404
    assert (
        api(dave).get("/data/prearchive/projects/Unassigned?format=json").json()["ResultSet"]["Result"] == []
    )
