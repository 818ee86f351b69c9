"""Django admin for site admins: every model's pages load, searches work, writes go through services."""

import pytest
from django.urls import reverse

from archive.models import Subject
from tests.factories import ImageSessionFactory
from xnatlite import permissions, projects
from xnatlite.models import AuditEvent, Project, ProjectAlias, ProjectRequest


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


@pytest.mark.parametrize(
    "model",
    [
        "xnatlite_project",
        "archive_subject",
        "archive_imagesession",
        "archive_scan",
        "archive_resource",
        "archive_file",
        "xnatlite_auditevent",
        "archive_accessioncounter",
        "xnatlite_projectrequest",
    ],
)
def test_changelists_load_and_search(admin_client, project_a, model):
    ImageSessionFactory(project=project_a)
    url = reverse(f"admin:{model}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "A"}).status_code == 200


def test_admin_creates_project_through_the_service(admin_client, root):
    response = admin_client.post(
        reverse("admin:xnatlite_project_add"),
        {
            "id": "ADM1",
            "name": "By admin",
            "accessibility": "private",
            "prearchive_code": "0",
            "aliases-TOTAL_FORMS": "1",
            "aliases-INITIAL_FORMS": "0",
            "aliases-0-alias": "ADM1_ALIAS",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    project = Project.objects.get(pk="ADM1")
    assert permissions.role_of(root, project) == "owner"
    assert list(ProjectAlias.objects.values_list("alias", flat=True)) == ["ADM1_ALIAS"]
    assert AuditEvent.objects.filter(action="archive.project.created", object_id="ADM1").exists()


@pytest.mark.parametrize("bad", ["..", "a/b", "a b", "é", "x" * 65])
def test_admin_refuses_bad_project_id(admin_client, bad):
    response = admin_client.post(
        reverse("admin:xnatlite_project_add"),
        {
            "id": bad,
            "name": "x",
            "accessibility": "private",
            "prearchive_code": "0",
            "aliases-TOTAL_FORMS": "0",
            "aliases-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "id" in response.context["adminform"].form.errors
    assert not Project.objects.exists()


def test_admin_refuses_bad_subject_label_and_creates_good_one(admin_client, project_a):
    url = reverse("admin:archive_subject_add")
    response = admin_client.post(url, {"project": "A", "label": "bad label"})
    assert response.status_code == 200
    assert "label" in response.context["adminform"].form.errors
    response = admin_client.post(url, {"project": "A", "label": "S_01"})
    assert response.status_code == 302
    assert Subject.objects.get(label="S_01").accession_id == "XNATLITE_S00001"


def test_non_staff_cannot_open_admin(client, alice):
    client.force_login(alice)
    response = client.get(reverse("admin:xnatlite_project_changelist"))
    assert response.status_code == 302


def test_admin_approves_and_refuses_project_requests(admin_client, alice, dave, root):
    asked = projects.request_project("NEURO", by=alice)
    other = projects.request_project("OTHER", by=dave)
    url = reverse("admin:xnatlite_projectrequest_changelist")
    page = admin_client.get(url)
    assert b"NEURO" in page.content and b"Approve the selected requests" in page.content
    admin_client.post(url, {"action": "approve", "_selected_action": [asked.pk]})
    admin_client.post(url, {"action": "refuse", "_selected_action": [other.pk]})
    project = Project.objects.get()
    assert project.id == "NEURO" and permissions.role_of(alice, project) == "owner"
    assert dict(ProjectRequest.objects.values_list("requested_id", "status")) == {
        "NEURO": "approved",
        "OTHER": "refused",
    }
    assert AuditEvent.objects.filter(action="archive.project.request_approved", actor=root).exists()


def test_the_admin_is_titled_xnatlite_with_readable_sections_and_every_page_has_a_favicon(
    admin_client, client
):
    """Issue 15: not "Django administration" and "Xnatlite", "Dicom_Receiver"."""
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "<title>Accounts, projects, receivers, scripts and the audit log | xnatlite</title>" in html
    assert "xnatlite administration" in html and "Django administration" not in html
    for section in (
        "Projects, requests and audit log",
        "Archive",
        "Prearchive",
        "Anonymization",
        "DICOM receivers",
    ):
        assert f">{section}</a>" in html, section
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 301 and favicon["Location"].endswith("/static/favicon.svg")
    assert 'rel="icon"' in client.get(reverse("login")).content.decode()
