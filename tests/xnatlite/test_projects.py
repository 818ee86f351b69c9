"""Projects, roles and aliases through xnatlite/projects.py: rows, groups and audit afterwards."""

import pytest
from django.contrib.auth.models import Group

from tests.factories import make_project
from xnatlite import permissions, projects
from xnatlite.errors import Forbidden, InvalidInput, InvalidLabel, NotFound
from xnatlite.models import AuditEvent, Project, ProjectAlias, ProjectRequest


def test_creating_a_project_makes_the_creator_owner_and_three_groups(alice, settings):
    settings.PROJECT_CREATION = "everyone"
    project = projects.create_project(
        "NEURO", by=alice, name="Neuro study", accessibility="protected", prearchive_code=4
    )
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


@pytest.mark.parametrize(
    "word",
    [
        "Unassigned",
        "unassigned",
        "UNASSIGNED",
        "projects",
        "prearchive",
        "data",
        "REST",
        "xapi",
        "admin",
        "static",
        "new",
        "experiments",
    ],
)
def test_reserved_words_are_refused_as_project_ids(alice, word):
    """Issue 14 item 14: a project named `Unassigned` broke its own prearchive; URL words are reserved."""
    with pytest.raises(InvalidInput) as exc:
        make_project(word, alice)
    assert "reserved" in exc.value.message
    assert not Project.objects.exists()
    assert not Group.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="archive.project").exists()


@pytest.mark.parametrize("word", ["Unassigned", "subjects", "Xapi"])
def test_reserved_words_are_refused_as_aliases(alice, project_a, word):
    with pytest.raises(InvalidInput) as exc:
        projects.add_project_alias(project_a, word, by=alice)
    assert "reserved" in exc.value.message
    assert not ProjectAlias.objects.exists()


def test_names_that_only_contain_a_reserved_word_are_fine(alice):
    project = make_project("Unassigned2", alice)
    projects.add_project_alias(project, "my-data", by=alice)
    assert ProjectAlias.objects.get().alias == "my-data"


# --- who may create projects (issue 14 item 5) ------------------------------------------------------
def test_by_default_only_site_admins_create_projects(alice, root):
    with pytest.raises(Forbidden) as exc:
        projects.create_project("BRAIN", by=alice)
    assert "request one" in exc.value.message
    assert not Project.objects.exists() and not Group.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="archive.project").exists()
    project = projects.create_project("BRAIN", by=root, owner=alice)
    assert permissions.role_of(alice, project) == "owner" and permissions.role_of(root, project) is None
    event = AuditEvent.objects.get(action="archive.project.created")
    assert (event.actor, event.details) == (root, {"name": "BRAIN", "owner": "alice"})


def test_a_requested_project_is_created_by_an_admin_with_the_requester_as_owner(alice, bob, root):
    asked = projects.request_project(
        "NEURO", by=alice, name="Neuro", reason="MR study, Study Description NEURO"
    )
    assert not Project.objects.exists()
    assert list(projects.project_requests(bob)) == [] and list(projects.project_requests(alice)) == [asked]
    with pytest.raises(Forbidden):
        projects.approve_project_request(asked, by=bob)
    with pytest.raises(InvalidInput):
        projects.request_project("neuro", by=bob)  # one request per ID at a time
    project = projects.approve_project_request(asked, by=root)
    asked.refresh_from_db()
    assert (asked.status, asked.project, asked.decided_by) == ("approved", project, root)
    assert (project.id, project.name, project.created_by) == ("NEURO", "Neuro", alice)
    assert permissions.role_of(alice, project) == "owner"
    events = AuditEvent.objects.filter(action__startswith="archive.project").order_by("id")
    assert list(events.values_list("action", "actor__username")) == [
        ("archive.project.requested", "alice"),
        ("archive.project.created", "root"),
        ("archive.project.request_approved", "root"),
    ]
    with pytest.raises(InvalidInput):
        projects.approve_project_request(asked, by=root)  # decided once


def test_a_refused_request_creates_nothing(alice, root):
    asked = projects.request_project("NEURO", by=alice)
    projects.refuse_project_request(asked, by=root, note="Use project NEURO2")
    asked.refresh_from_db()
    assert (asked.status, asked.note, asked.decided_by) == ("refused", "Use project NEURO2", root)
    assert not Project.objects.exists()
    assert AuditEvent.objects.filter(action="archive.project.request_refused", actor=root).exists()


def test_requests_are_checked_like_project_ids(alice, project_a):
    for bad in ("Unassigned", "a", "a b"):
        with pytest.raises((InvalidInput, InvalidLabel)):
            projects.request_project(bad, by=alice)
    assert not ProjectRequest.objects.exists()


def test_everyone_may_create_projects_when_the_site_says_so(alice, settings):
    settings.PROJECT_CREATION = "everyone"
    assert projects.create_project("OWN", by=alice).created_by == alice


# --- names of data waiting in Unassigned need an admin (issue 14 item 5) ------------------------------
@pytest.fixture
def waiting(db):
    """What a scanner sent with Study Description BRAIN_MR and Accession Number ACC123: no project
    of that name, so it waits in Unassigned."""
    from tests.dicomgen import make_study
    from tests.sessions import ingest_study

    session = ingest_study(
        make_study(1, 1, study_description="BRAIN_MR", accession="ACC123", patient_id="P7"), source="dicom"
    )
    assert session.project_id is None
    return session


@pytest.mark.parametrize("name", ["BRAIN_MR", "brain_mr", "ACC123", "P7"])
def test_an_alias_naming_waiting_data_needs_an_admin(project_a, alice, root, waiting, name):
    with pytest.raises(Forbidden) as exc:
        projects.add_project_alias(project_a, name, by=alice)
    assert "Unassigned" in exc.value.message
    assert not ProjectAlias.objects.exists()
    projects.add_project_alias(project_a, name, by=root)
    assert ProjectAlias.objects.get().alias == name


def test_a_project_id_naming_waiting_data_needs_an_admin(alice, root, waiting, settings):
    settings.PROJECT_CREATION = "everyone"
    with pytest.raises(Forbidden):
        projects.create_project("BRAIN_MR", by=alice)
    assert projects.create_project("OTHER", by=alice).id == "OTHER"
    assert projects.create_project("BRAIN_MR", by=root, owner=alice).id == "BRAIN_MR"


def test_sessions_received_before_routing_values_were_kept_are_read_from_their_files(
    project_a, alice, root, waiting
):
    from prearchive.models import PrearchiveSession

    PrearchiveSession.objects.filter(pk=waiting.pk).update(routing_values="")
    with pytest.raises(Forbidden):
        projects.add_project_alias(project_a, "ACC123", by=alice)
    projects.add_project_alias(project_a, "OTHER", by=alice)  # kept once read (a refusal rolls back)
    waiting.refresh_from_db()
    assert "\nACC123\n" in waiting.routing_values and "\nBRAIN_MR\n" in waiting.routing_values
