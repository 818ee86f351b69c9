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
