"""The first pages over real HTTP requests through Django's test client: sign in, projects, users."""

import pytest
from django.urls import reverse

from tests.factories import make_project
from xnatlite import permissions, projects
from xnatlite.models import AuditEvent, Project, ProjectRequest


def test_root_answers_200_with_the_sign_in_form_for_visitors(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_sign_in_then_see_only_visible_projects(client, project_a, project_d, alice, dave):
    make_project("PUB", dave, accessibility="public")
    make_project("PROT", dave, accessibility="protected")
    response = client.post(reverse("login"), {"username": "alice", "password": "pw"}, follow=True)
    assert response.status_code == 200
    listed = [p.id for p in response.context["projects"]]
    assert listed == ["A", "PROT", "PUB"]  # not dave's private D
    prot = next(p for p in response.context["projects"] if p.id == "PROT")
    assert prot.readable is False


def test_wrong_password_is_refused(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert response.wsgi_request.user.is_authenticated is False


def test_pages_need_sign_in(client, project_a):
    response = client.get(reverse("project-detail", args=["A"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_create_project_makes_me_owner(client, dave, settings):
    settings.PROJECT_CREATION = "everyone"
    client.force_login(dave)
    response = client.post(
        reverse("project-create"),
        {"project_id": "NEW_1", "name": "New one", "accessibility": "private", "prearchive_code": "0"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("project-detail", args=["NEW_1"])
    project = Project.objects.get(pk="NEW_1")
    assert permissions.role_of(dave, project) == "owner"


@pytest.mark.parametrize("bad", ["..", "a/b", "", "a b", "é", "x" * 65])
def test_create_project_form_refuses_bad_ids(client, dave, bad):
    client.force_login(dave)
    response = client.post(
        reverse("project-create"),
        {"project_id": bad, "name": "x", "accessibility": "private", "prearchive_code": "0"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["project_id"]
    assert not Project.objects.exists()


def test_duplicate_project_is_refused_in_the_form(client, project_a, dave):
    client.force_login(dave)
    response = client.post(
        reverse("project-create"),
        {"project_id": "a", "name": "x", "accessibility": "private", "prearchive_code": "0"},
    )
    assert "already in use" in str(response.context["form"].non_field_errors())
    assert list(Project.objects.values_list("pk", flat=True)) == ["A"]


def test_someone_elses_private_project_is_404(client, project_a, dave):
    client.force_login(dave)
    assert client.get(reverse("project-detail", args=["A"])).status_code == 404
    assert client.get(reverse("project-users", args=["A"])).status_code == 404
    response = client.post(reverse("project-users", args=["A"]), {"user": "dave", "role": "owner"})
    assert response.status_code == 404
    assert permissions.role_of(dave, project_a) is None


def test_protected_project_page_shows_no_data(client, alice, dave):
    make_project("PROT", alice, accessibility="protected")
    client.force_login(dave)
    response = client.get(reverse("project-detail", args=["PROT"]))
    assert response.status_code == 200
    assert response.context["can_read"] is False
    assert b"you can see that it exists" in response.content


def test_owner_adds_a_user_by_email_and_changes_role(client, project_a, alice, dave):
    client.force_login(alice)
    response = client.post(
        reverse("project-users", args=["A"]), {"user": "dave@example.org", "role": "collaborator"}
    )
    assert response.status_code == 302
    assert permissions.role_of(dave, project_a) == "collaborator"
    client.post(reverse("project-user-change", args=["A", "dave"]), {"role": "member"})
    assert permissions.role_of(dave, project_a) == "member"
    client.post(reverse("project-user-change", args=["A", "dave"]), {"remove": "1"})
    assert permissions.role_of(dave, project_a) is None
    assert AuditEvent.objects.filter(action="archive.project.user_removed", details__user="dave").exists()


def test_owner_sees_error_for_unknown_user(client, project_a, alice):
    client.force_login(alice)
    response = client.post(reverse("project-users", args=["A"]), {"user": "ghost", "role": "member"})
    assert response.status_code == 200
    assert "No user &#x27;ghost&#x27;" in response.content.decode()


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_members_and_collaborators_see_users_but_cannot_change_them(client, project_a, cast, who):
    client.force_login(cast[who])
    page = client.get(reverse("project-users", args=["A"]))
    assert page.status_code == 200
    assert b"Add a user" not in page.content and b"Set role" not in page.content
    assert (
        client.post(reverse("project-users", args=["A"]), {"user": "dave", "role": "owner"}).status_code
        == 403
    )
    response = client.post(reverse("project-user-change", args=["A", "carol"]), {"role": "owner"})
    assert response.status_code == 403
    assert permissions.role_of(cast["carol"], project_a) == "collaborator"
    assert permissions.role_of(cast["dave"], project_a) is None


def test_sign_out_is_a_post(client, alice):
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("project-list")).status_code == 302


# --- project requests (issue 14 item 5) ---------------------------------------------------------------
def test_someone_who_may_not_create_projects_requests_one(client, dave):
    client.force_login(dave)
    page = client.get(reverse("project-create"))
    assert page.status_code == 200 and b"Request a project" in page.content
    response = client.post(
        reverse("project-create"), {"project_id": "NEURO", "name": "Neuro", "reason": "our MR study"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("project-create")
    assert not Project.objects.exists()
    asked = ProjectRequest.objects.get()
    assert (asked.requested_id, asked.requested_by, asked.status) == ("NEURO", dave, "pending")
    listed = client.get(reverse("project-create"))
    assert b"NEURO" in listed.content and b"Waiting for a site administrator" in listed.content
    assert b"Request a project" in client.get(reverse("project-list")).content


def test_an_admin_approves_or_refuses_requests_on_the_requests_page(client, dave, carol, root):
    asked = projects.request_project("NEURO", by=dave, name="Neuro")
    other = projects.request_project("OTHER", by=carol)
    client.force_login(dave)
    assert client.get(reverse("project-requests")).status_code == 403
    assert (
        client.post(reverse("project-requests"), {"request": asked.pk, "action": "approve"}).status_code
        == 403
    )
    assert not Project.objects.exists()
    client.force_login(root)
    listing = client.get(reverse("project-list"))
    assert b"2 project requests waiting" in listing.content
    page = client.get(reverse("project-requests"))
    assert b"NEURO" in page.content and b"OTHER" in page.content
    client.post(reverse("project-requests"), {"request": asked.pk, "action": "approve"})
    client.post(reverse("project-requests"), {"request": other.pk, "action": "refuse", "note": "no"})
    project = Project.objects.get()
    assert project.id == "NEURO" and permissions.role_of(dave, project) == "owner"
    other.refresh_from_db()
    assert (other.status, other.note) == ("refused", "no")
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "archive.project.requested",
        "archive.project.request_approved",
        "archive.project.request_refused",
    }


def test_the_requests_page_warns_when_a_request_names_data_waiting_in_unassigned(client, dave, root):
    from tests.dicomgen import make_study
    from tests.sessions import ingest_study

    ingest_study(make_study(1, 1, study_description="BRAIN_MR"), source="dicom")
    projects.request_project("BRAIN_MR", by=dave)
    projects.request_project("OTHER", by=dave)
    client.force_login(root)
    page = client.get(reverse("project-requests")).content.decode()
    rows = page.split('<tr id="request-')[1:]
    warned = {name for row in rows for name in ("BRAIN_MR", "OTHER") if name in row and "Names data" in row}
    assert len(rows) == 2 and warned == {"BRAIN_MR"}
