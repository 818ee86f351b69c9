"""Every UI page for every role: owner, member, collaborator, stranger, site admin (and nobody)."""

import io

import pytest
from django.urls import reverse

from archive.models import File, ImageSession, Scan, Subject
from archive.services.resources import create_resource, store_file
from prearchive.ingest import IngestContext, ingest_file
from tests.dicomgen import pydicom_test_file
from tests.factories import TESTS
from xnatlite.models import AuditEvent, Project

ROLES = ("alice", "bob", "carol", "dave", "root")


@pytest.fixture
def urls(cast, session_a):
    pre = ingest_file(pydicom_test_file("CT_small.dcm"), IngestContext(source="test", project="A")).session
    file = File.objects.filter(resource__scan__session=session_a).first()
    notes = create_resource(session_a.subject, "NOTES", by=TESTS)
    subject_file = store_file(notes, "consent.txt", io.BytesIO(b"signed"), by=TESTS)[0]
    protocols = create_resource(session_a.project, "PROTOCOLS", by=TESTS)
    project_file = store_file(protocols, "mri.pdf", io.BytesIO(b"%PDF"), by=TESTS)[0]
    s = ["A", "SESS1"]
    return {
        "project": reverse("project-detail", args=["A"]),
        "subjects": reverse("subject-list", args=["A"]),
        "subject": reverse("subject-detail", args=["A", "SUBJ1"]),
        "session": reverse("session-detail", args=s),
        "scan": reverse("scan-detail", args=[*s, "1"]),
        "file": reverse("file-download", args=[*s, file.pk]),
        "download": reverse("session-download", args=s),
        "users": reverse("project-users", args=["A"]),
        "settings": reverse("project-settings", args=["A"]),
        "history": reverse("project-history", args=["A"]),
        "anonymization": reverse("project-script", args=["A"]),
        "prearchive": reverse("prearchive-project", args=["A"]),
        "prearchive_session": reverse("prearchive-session", args=["A", pre.timestamp, pre.folder_name]),
        "site_prearchive": reverse("prearchive"),
        "upload": reverse("upload"),
        "projects": reverse("project-list"),
        "subject_create": reverse("subject-create", args=["A"]),
        "session_create": reverse("session-create", args=["A", "SUBJ1"]),
        "subject_relabel": reverse("subject-relabel", args=["A", "SUBJ1"]),
        "session_relabel": reverse("session-relabel", args=s),
        "subject_delete": reverse("subject-delete", args=["A", "SUBJ1"]),
        "session_delete": reverse("session-delete", args=s),
        "scan_delete": reverse("scan-delete", args=[*s, "1"]),
        "scan_resource_delete": reverse("scan-resource-delete", args=[*s, "1", "DICOM"]),
        "file_delete": reverse("file-delete", args=[*s, file.pk]),
        "session_resource_upload": reverse("session-resource-upload", args=s),
        "scan_resource_upload": reverse("scan-resource-upload", args=[*s, "1"]),
        "subject_resource_upload": reverse("subject-resource-upload", args=["A", "SUBJ1"]),
        "subject_resource_delete": reverse("subject-resource-delete", args=["A", "SUBJ1", "NOTES"]),
        "subject_file": reverse("subject-file-download", args=["A", "SUBJ1", subject_file.pk]),
        "subject_file_delete": reverse("subject-file-delete", args=["A", "SUBJ1", subject_file.pk]),
        "project_files": reverse("project-resources", args=["A"]),
        "project_resource_upload": reverse("project-resource-upload", args=["A"]),
        "project_resource_delete": reverse("project-resource-delete", args=["A", "PROTOCOLS"]),
        "project_file": reverse("project-file-download", args=["A", project_file.pk]),
        "project_file_delete": reverse("project-file-delete", args=["A", project_file.pk]),
    }


READ = {"alice": 200, "bob": 200, "carol": 200, "dave": 404, "root": 200}
MANAGE = {"alice": 200, "bob": 403, "carol": 403, "dave": 404, "root": 200}
PREARCHIVE = {"alice": 200, "bob": 200, "carol": 403, "dave": 404, "root": 200}
PREARCHIVE_SESSION = {"alice": 200, "bob": 200, "carol": 404, "dave": 404, "root": 200}
EVERYONE = dict.fromkeys(ROLES, 200)
WRITE = {"alice": 200, "bob": 200, "carol": 403, "dave": 404, "root": 200}
EXPECTED_GET = {
    "project": READ,
    "subjects": READ,
    "subject": READ,
    "session": READ,
    "scan": READ,
    "file": READ,
    "download": READ,
    "users": READ,
    "settings": MANAGE,
    "history": MANAGE,
    "anonymization": MANAGE,
    "prearchive": PREARCHIVE,
    "prearchive_session": PREARCHIVE_SESSION,
    "site_prearchive": EVERYONE,
    "upload": EVERYONE,
    "projects": EVERYONE,
    "subject_create": WRITE,
    "session_create": WRITE,
    "subject_relabel": WRITE,
    "session_relabel": WRITE,
    "subject_delete": MANAGE,  # deleting archived data: owners only (xnat-spec.md §2.2)
    "session_delete": MANAGE,
    "scan_delete": MANAGE,
    "scan_resource_delete": MANAGE,
    "file_delete": MANAGE,
    "session_resource_upload": WRITE,
    "scan_resource_upload": WRITE,
    "subject_resource_upload": WRITE,
    "subject_resource_delete": MANAGE,
    "subject_file": READ,
    "subject_file_delete": MANAGE,
    "project_files": READ,
    "project_resource_upload": WRITE,
    "project_resource_delete": MANAGE,
    "project_file": READ,
    "project_file_delete": MANAGE,
}


@pytest.mark.parametrize("page", sorted(EXPECTED_GET))
def test_get_every_page_as_every_role(as_user, cast, urls, page):
    for who in ROLES:
        response = as_user(cast[who]).get(urls[page])
        assert response.status_code == EXPECTED_GET[page][who], (page, who)


@pytest.mark.parametrize("page", sorted(EXPECTED_GET))
def test_nobody_signed_in_is_sent_to_sign_in(client, urls, page):
    response = client.get(urls[page])
    assert response.status_code == 302 and response["Location"].startswith(reverse("login")), page


EDIT = {"alice": 302, "bob": 302, "carol": 403, "dave": 404, "root": 302}
POSTS = {
    "subject": ({"group": "g", "gender": "", "handedness": ""}, EDIT),
    "session": ({"note": "n"}, EDIT),
    "scan": ({"quality": "unusable", "type": "t"}, EDIT),
    "session_scans": ({"quality-1": "questionable"}, EDIT),
    "settings": (
        {"name": "Renamed", "accessibility": "private", "prearchive_code": "0"},
        {"alice": 302, "bob": 403, "carol": 403, "dave": 404, "root": 302},
    ),
}


@pytest.mark.parametrize("form", sorted(POSTS))
def test_post_every_edit_form_as_every_role(as_user, cast, urls, session_a, form):
    url = urls.get(form) or reverse("session-scans-edit", args=["A", "SESS1"])
    data, expected = POSTS[form]
    initial = _state()
    # Refused roles first, so any change seen afterwards was made by an allowed one.
    for who in sorted(ROLES, key=lambda w: expected[w] == 302):
        before = _state()
        response = as_user(cast[who]).post(url, data)
        assert response.status_code == expected[who], (form, who)
        if expected[who] != 302:
            assert _state() == before, (form, who)
    assert _state() != initial  # and the allowed roles did change something


def _state():
    """Every row a form could change."""
    return [
        list(model.objects.order_by("pk").values()) for model in (Project, Subject, ImageSession, Scan)
    ] + [AuditEvent.objects.count()]
