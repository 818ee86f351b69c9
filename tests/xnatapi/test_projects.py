"""Projects over REST: the listing, one project, and its settings, users and roles (owners change them)."""

from __future__ import annotations

from tests.xnatapi.conftest import rows
from xnatlite import permissions, projects
from xnatlite.models import AuditEvent, Project


def test_projects_listing_shows_only_visible_projects(api, cast):
    result = rows(api(cast["alice"]).get("/data/archive/projects?columns=ID,URI,name&format=json"))
    assert [(r["ID"], r["URI"], r["name"]) for r in result] == [("A", "/data/projects/A", "Project A")]
    assert [r["ID"] for r in rows(api(cast["dave"]).get("/data/projects"))] == ["D"]
    assert {r["ID"] for r in rows(api(cast["root"]).get("/data/projects"))} == {"A", "D"}


def test_a_project_as_an_items_document(api, session_with_files, alice):
    project = api(alice).get("/data/projects/A?format=json").json()["items"][0]
    assert project["data_fields"]["ID"] == "A"


def test_a_stranger_gets_404_for_a_private_project(api, session_with_files, dave):
    response = api(dave).get("/data/projects/A")
    assert response.status_code == 404 and response.content.startswith(b"Not Found")


def test_protected_project_is_listed_but_its_data_refused(api, dave, alice, project_a):

    projects.update_project(project_a, by=alice, accessibility="protected")
    assert "A" in [r["ID"] for r in rows(api(dave).get("/data/projects"))]
    assert api(dave).get("/data/projects/A?format=json").status_code == 200
    assert api(dave).get("/data/projects/A/subjects").status_code == 403


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


def test_owner_deletes_a_project_through_the_api(api, session_with_files, cast):
    """XNAT lets owners `DELETE /data/projects/{id}` (issue 15); members get 403, strangers 404."""
    assert api(cast["bob"]).delete("/data/projects/A").status_code == 403
    assert api(cast["dave"]).delete("/data/projects/A").status_code == 404
    assert Project.objects.filter(pk="A").exists()
    assert api(cast["alice"]).delete("/data/projects/A").status_code == 200
    assert not Project.objects.filter(pk="A").exists()
    assert AuditEvent.objects.filter(action="archive.project.deleted", project_id="A").exists()
    assert api(cast["alice"]).get("/data/projects/A").status_code == 404
