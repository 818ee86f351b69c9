"""Projects, roles and aliases through xnatlite/projects.py: rows, groups and audit afterwards."""

import pytest
from django.contrib.auth.models import Group

from tests.factories import make_project
from xnatlite import permissions, projects
from xnatlite.errors import Forbidden, InvalidInput, InvalidLabel, NotFound
from xnatlite.models import AuditEvent, Project, ProjectAlias


def test_creating_a_project_makes_the_creator_owner_and_three_groups(alice):
    project = make_project("NEURO", alice, name="Neuro study", accessibility="protected", prearchive_code=4)
    project.refresh_from_db()
    assert (project.name, project.accessibility, project.prearchive_code) == ("Neuro study", "protected", 4)
    assert set(Group.objects.filter(name__startswith="NEURO_").values_list("name", flat=True)) == {
        "NEURO_owner",
        "NEURO_member",
        "NEURO_collaborator",
    }
    assert permissions.role_of(alice, project) == "owner"
    event = AuditEvent.objects.get(action="archive.project.created")
    assert (event.actor, event.object_id, event.project_id) == (alice, "NEURO", "NEURO")


@pytest.mark.parametrize("bad", ["", "..", "a/b", "a b", "é", "x" * 65, "../etc", "a.b", "/abs"])
def test_bad_project_ids_are_refused_and_nothing_is_created(alice, bad):
    with pytest.raises(InvalidLabel) as exc:
        make_project(bad, alice)
    assert "Project ID" in exc.value.message
    assert not Project.objects.exists()
    assert not Group.objects.exists()


def test_project_ids_and_aliases_share_a_case_insensitive_namespace(alice, project_a):
    with pytest.raises(InvalidInput):
        make_project("a", alice)
    projects.add_project_alias(project_a, "STUDY1", by=alice)
    with pytest.raises(InvalidInput):
        make_project("study1", alice)
    with pytest.raises(InvalidInput):
        projects.add_project_alias(project_a, "Study1", by=alice)
    assert list(ProjectAlias.objects.values_list("alias", flat=True)) == ["STUDY1"]


def test_member_cannot_change_settings_or_users(project_a, bob, carol):
    with pytest.raises(Forbidden):
        projects.update_project(project_a, by=bob, accessibility="public")
    with pytest.raises(Forbidden):
        projects.set_project_role(project_a, carol, "owner", by=bob)
    project_a.refresh_from_db()
    assert project_a.accessibility == "private"
    assert permissions.role_of(carol, project_a) == "collaborator"


def test_stranger_gets_not_found_for_someone_elses_project(project_a, dave):
    with pytest.raises(NotFound):
        projects.update_project(project_a, by=dave, name="mine")
    assert Project.objects.get(pk="A").name == "Project A"


def test_owner_updates_settings_with_validation_and_audit(project_a, alice):
    projects.update_project(
        project_a, by=alice, accessibility="public", prearchive_code="5", description=" d "
    )
    project_a.refresh_from_db()
    assert (project_a.accessibility, project_a.prearchive_code, project_a.description) == ("public", 5, "d")
    assert AuditEvent.objects.filter(action="archive.project.updated", project_id="A").count() == 1
    with pytest.raises(InvalidInput):
        projects.update_project(project_a, by=alice, prearchive_code=3)
    with pytest.raises(InvalidInput):
        projects.update_project(project_a, by=alice, accessibility="secret")
    with pytest.raises(InvalidInput):
        projects.update_project(project_a, by=alice, id="B")
    project_a.refresh_from_db()
    assert (project_a.pk, project_a.prearchive_code) == ("A", 5)


def test_a_user_holds_one_role_and_the_last_owner_stays(project_a, alice, bob):
    projects.set_project_role(project_a, bob, "owner", by=alice)
    assert list(bob.groups.filter(name__startswith="A_").values_list("name", flat=True)) == ["A_owner"]
    projects.remove_project_user(project_a, bob, by=alice)
    assert not bob.groups.filter(name__startswith="A_").exists()
    with pytest.raises(InvalidInput, match="last owner"):
        projects.remove_project_user(project_a, alice, by=alice)
    with pytest.raises(InvalidInput, match="last owner"):
        projects.set_project_role(project_a, alice, "member", by=alice)
    assert permissions.role_of(alice, project_a) == "owner"
    roles = list(
        AuditEvent.objects.filter(action__startswith="archive.project.").values_list("action", flat=True)
    )
    assert "archive.project.user_removed" in roles


def test_unknown_role_is_refused(project_a, alice, dave):
    with pytest.raises(InvalidInput, match="Role must be one of"):
        projects.set_project_role(project_a, dave, "janitor", by=alice)
    assert permissions.role_of(dave, project_a) is None


def test_find_user_by_username_or_unique_email(alice, bob):
    assert projects.find_user("alice") == alice
    assert projects.find_user("BOB@example.org") == bob
    with pytest.raises(NotFound):
        projects.find_user("nobody@example.org")
