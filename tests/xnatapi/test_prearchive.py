"""The prearchive over REST: `/data/prearchive/projects[/...]`, one session, its scans, resources and files."""

from __future__ import annotations

from prearchive.models import PrearchiveSession
from tests.dicomgen import make_study
from tests.xnatapi.test_api_import import dicom_bytes, make_zip, post_import


def test_scans_are_listed_in_the_uis_order_numbers_first(api, alice, project_a):
    datasets = make_study(n_series=3, n_instances=1, series_numbers=[10, 2, 1])
    members = [(f"study/{n}.dcm", dicom_bytes(ds)) for n, ds in enumerate(datasets)]
    client = api(alice)
    uri = post_import(client, make_zip(members)).content.decode().strip()
    scans = client.get(uri + "/scans?format=json").json()["ResultSet"]["Result"]
    assert [s["ID"] for s in scans] == ["1", "2", "10"]
    assert PrearchiveSession.objects.get().file_count == 3


def test_unassigned_rows_are_listed_for_site_admins_only(api, alice, root, project_a):
    unassigned = PrearchiveSession.objects.create(
        project=None, timestamp="20240102_101500123", folder_name="EU", label="EU", study_instance_uid="1.2"
    )
    rows = api(root).get("/data/prearchive/projects/Unassigned?format=json").json()["ResultSet"]["Result"]
    assert [(r["project"], r["name"]) for r in rows] == [("Unassigned", "EU")]
    refused = api(alice).get("/data/prearchive/projects/Unassigned,A")
    assert (refused.status_code, refused.content) == (404, b"Not Found: Project 'Unassigned' not found")
    assert (
        api(alice).get(f"/data/prearchive/projects/Unassigned/{unassigned.timestamp}/EU").status_code == 404
    )
