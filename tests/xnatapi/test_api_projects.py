"""Project settings over REST: accessibility, prearchive code, users and roles (owners only)."""

from __future__ import annotations

from xnatlite import permissions
from xnatlite.models import AuditEvent, Project


def test_owner_changes_accessibility_and_prearchive_code(api, alice, project_a):
    client = api(alice)
    assert client.get("/data/projects/A/accessibility").content == b"private"
    assert client.put("/data/projects/A/accessibility/protected").status_code == 200
    assert client.put("/data/projects/A/prearchive_code/4").status_code == 200
    project_a.refresh_from_db()
    assert (project_a.accessibility, project_a.prearchive_code) == ("protected", 4)
    assert client.get("/data/projects/A/prearchive_code").content == b"4"
    assert client.put("/data/projects/A/accessibility/open").status_code == 400
    assert AuditEvent.objects.filter(action="archive.project.updated").count() == 2


def test_members_may_not_change_settings_and_strangers_see_nothing(api, bob, dave, project_a):
    assert api(bob).put("/data/projects/A/accessibility/public").status_code == 403
    assert api(dave).get("/data/projects/A/accessibility").status_code == 404
    assert Project.objects.get(pk="A").accessibility == "private"


def test_users_listing_and_role_changes(api, alice, bob, carol, dave, project_a):
    client = api(alice)
    rows = client.get("/data/projects/A/users?format=json").json()["ResultSet"]["Result"]
    assert {(r["login"], r["displayname"]) for r in rows} == {
        ("alice", "Owners"),
        ("bob", "Members"),
        ("carol", "Collaborators"),
    }
    assert client.put("/data/projects/A/users/Members/dave").status_code == 200
    assert permissions.role_of(dave, project_a) == "member"
    assert client.delete("/data/projects/A/users/Owners/dave").status_code == 404
    assert client.delete("/data/projects/A/users/Members/dave").status_code == 200
    assert permissions.role_of(dave, project_a) is None
    assert api(bob).put("/data/projects/A/users/Owners/bob").status_code == 403
    assert permissions.role_of(bob, project_a) == "member"
    assert api(dave).get("/data/projects/A/users").status_code == 404


def test_pyxnat_style_user_calls(api, alice, dave, project_a):
    client = api(alice)
    assert client.put("/data/projects/A/users/Collaborators/dave").status_code == 200
    assert permissions.role_of(dave, project_a) == "collaborator"
