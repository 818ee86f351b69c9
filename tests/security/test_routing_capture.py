"""Issue 14 item 1: a signed-in account with no role in private project A posted a zip whose Study
Description is `A` to `/data/services/import` without `project=`: it landed in A's prearchive (and the
answer said A existed); with A archiving automatically it landed in A's archive. Routing now honours a
project only for an uploader who may use its prearchive; otherwise the data goes to the uploader's own
Unassigned space."""

from __future__ import annotations

import pytest
import requests

from archive.models import ImageSession
from prearchive.models import PrearchiveSession
from tests.security.conftest import BOUND, browser_sign_in
from tests.xnatapi.conftest import make_zip, study_members

pytestmark = pytest.mark.e2e


def rows(url: str, who: str) -> list[tuple[str, str]]:
    answer = requests.get(url + "data/prearchive/projects?format=json", auth=(who, "pw"), timeout=BOUND)
    assert answer.ok, answer.text
    return [(r["project"], r["name"]) for r in answer.json()["ResultSet"]["Result"]]


@pytest.mark.parametrize("code", [0, 4])
def test_a_stranger_cannot_write_into_a_private_project_by_naming_it(start_live, project_a, dave, code):
    project_a.prearchive_code = code
    project_a.save()
    live = start_live()
    _, members = study_members(2, study_description="A")
    answer = requests.post(
        live.url + "data/services/import?subject=S1&session=E1",
        data=make_zip(members),
        headers={"Content-Type": "application/zip"},
        auth=("dave", "pw"),
        timeout=BOUND,
    )
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith("/data/prearchive/projects/Unassigned/") and "/A/" not in answer.text
    session = PrearchiveSession.objects.get()
    assert session.project_id is None and session.uploaded_by == dave
    assert not ImageSession.objects.exists()
    assert rows(live.url, "alice") == []  # nothing in A for its owner to find
    assert rows(live.url, "dave") == [("Unassigned", "E1")]
    # His prearchive page lists it, and he may open it; nobody else but admins may.
    web = browser_sign_in(live.url, "dave")
    page = web.get(live.url + "prearchive/?project=Unassigned", timeout=BOUND)
    assert page.ok and f"/prearchive/Unassigned/{session.timestamp}/E1/" in page.text
    assert web.get(live.url + f"prearchive/Unassigned/{session.timestamp}/E1/", timeout=BOUND).ok
    other = browser_sign_in(live.url, "bob")
    assert (
        other.get(live.url + f"prearchive/Unassigned/{session.timestamp}/E1/", timeout=BOUND).status_code
        == 404
    )
