"""Issue 14 item 15: accounts and e-mail addresses cannot be enumerated. Giving a role answers the same
for an existing and a missing account to anyone but the project's owners, and a project's users list
shows e-mail addresses only to its owners and site admins (API and pages)."""

from __future__ import annotations

import pytest
import requests

from tests.security.conftest import BOUND, browser_sign_in
from xnatlite import permissions, projects

pytestmark = pytest.mark.e2e


@pytest.fixture
def public_d(project_d, dave, bob, alice, carol):
    projects.update_project(project_d, by=dave, accessibility="public")
    projects.set_project_role(project_d, bob, "member", by=dave)
    return project_d


def test_giving_a_role_answers_alike_for_existing_and_missing_accounts(live, public_d, alice, bob, dave):
    server = live()
    for who in ("alice", "bob"):  # a reader of the public project, and one of its members
        answers = {
            name: requests.put(
                server.url + f"data/projects/D/users/Collaborators/{name}", auth=(who, "pw"), timeout=BOUND
            )
            for name in ("carol", "nobody-by-this-name")
        }
        existing, missing = answers["carol"], answers["nobody-by-this-name"]
        assert existing.status_code == 403, (who, existing.text)
        assert (existing.status_code, existing.content) == (missing.status_code, missing.content), who
    assert permissions.role_of(dave, public_d) == "owner" and permissions.role_of(bob, public_d) == "member"
    assert not permissions.project_roles(alice).get("D")
    # Owners still add people by name.
    added = requests.put(
        server.url + "data/projects/D/users/Collaborators/carol", auth=("dave", "pw"), timeout=BOUND
    )
    assert added.status_code == 200


def test_the_users_list_shows_e_mail_addresses_to_owners_and_admins_only(live, public_d, alice, dave, root):
    server = live()

    def emails(who: str) -> dict[str, str]:
        listing = requests.get(
            server.url + "data/projects/D/users?format=json", auth=(who, "pw"), timeout=BOUND
        )
        assert listing.status_code == 200
        return {row["login"]: row.get("email", "") for row in listing.json()["ResultSet"]["Result"]}

    assert emails("alice") == {"dave": "", "bob": ""}
    assert emails("bob") == {"dave": "", "bob": ""}
    assert emails("dave") == {"dave": "dave@example.org", "bob": "bob@example.org"}
    assert emails("root") == {"dave": "dave@example.org", "bob": "bob@example.org"}
    csv = requests.get(server.url + "data/projects/D/users?format=csv", auth=("alice", "pw"), timeout=BOUND)
    assert "@" not in csv.text
    page = browser_sign_in(server.url, "alice").get(server.url + "projects/D/users/", timeout=BOUND)
    assert page.status_code == 200 and "bob" in page.text and "@example.org" not in page.text
