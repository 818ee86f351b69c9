"""Issue 14 item 14: a project named `Unassigned` (anyone could create it) broke its own prearchive.
`Unassigned` and the words of the UI's and the API's addresses are reserved, in any case, for project
IDs and aliases."""

from __future__ import annotations

import pytest
import requests

from tests.factories import UserFactory
from tests.security.conftest import BOUND, browser_sign_in, post_form
from xnatlite.models import Project, ProjectAlias

pytestmark = pytest.mark.e2e


def test_reserved_words_are_refused_over_the_api(start_live, dave):
    live = start_live(XNATLITE_PROJECT_CREATION="everyone")
    for word in ("Unassigned", "unassigned", "prearchive", "REST", "xapi", "new"):
        answer = requests.put(live.url + f"data/projects/{word}", auth=("dave", "pw"), timeout=BOUND)
        assert answer.status_code == 400 and "reserved word" in answer.text, word
    assert not Project.objects.exists()
    assert (
        requests.put(live.url + "data/projects/MINE", auth=("dave", "pw"), timeout=BOUND).status_code == 201
    )


def test_reserved_words_are_refused_in_the_browser_even_for_admins(start_live, project_a, alice):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    live = start_live()
    admin = browser_sign_in(live.url, "root")
    page = post_form(
        admin,
        live.url + "projects/new/",
        {"project_id": "Unassigned", "name": "x", "accessibility": "private", "prearchive_code": "0"},
    )
    assert page.ok and "reserved word" in page.text
    owner = browser_sign_in(live.url, "alice")
    post_form(
        owner,
        live.url + "projects/A/settings/aliases/",
        {"alias": "UNASSIGNED"},
        page=live.url + "projects/A/settings/",
    )
    assert list(Project.objects.values_list("pk", flat=True)) == ["A"] and not ProjectAlias.objects.exists()
    # The Unassigned prearchive is still the one of data without a project.
    listing = requests.get(
        live.url + "data/prearchive/projects/Unassigned?format=json", auth=("root", "pw"), timeout=BOUND
    )
    assert listing.ok and listing.json()["ResultSet"]["Result"] == []
