"""Deleting archived data from the browser: owners (and site admins) only, after a confirmation page
that says what goes; rows, files on disk and the audit trail afterwards; nothing else touched."""

import io

import pytest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from archive.models import File, ImageSession, Resource, Scan, Subject
from archive.services.resources import create_resource, store_file
from tests.builders import add_dicom_scan, archive_state
from tests.factories import ImageSessionFactory, make_subject
from xnatlite import layout
from xnatlite.models import AuditEvent


@pytest.fixture
def more(session_a, project_a, alice):
    """Beside SESS1 (scans 1 and 2): SESS2 of the same subject, SUBJ2 with SESS3, and a NOTES resource
    with two files on SESS1."""
    sess2 = ImageSessionFactory(project=project_a, subject=session_a.subject, label="SESS2")
    add_dicom_scan(sess2, "1", "CT_small.dcm")
    sess3 = ImageSessionFactory(project=project_a, subject=make_subject(project_a, "SUBJ2"), label="SESS3")
    add_dicom_scan(sess3, "1", "MR_small.dcm")
    notes = create_resource(session_a, "NOTES", by=alice)
    store_file(notes, "a.txt", io.BytesIO(b"first note"), by=alice)
    store_file(notes, "sub/b.txt", io.BytesIO(b"second"), by=alice)
    return {"SESS2": sess2, "SESS3": sess3, "NOTES": notes}


def urls(session_a, notes):
    s = ["A", "SESS1"]
    note = File.objects.get(resource=notes, name="a.txt")
    return {
        "subject": reverse("subject-delete", args=["A", "SUBJ1"]),
        "session": reverse("session-delete", args=s),
        "scan": reverse("scan-delete", args=[*s, "1"]),
        "session_resource": reverse("session-resource-delete", args=[*s, "NOTES"]),
        "scan_resource": reverse("scan-resource-delete", args=[*s, "2", "DICOM"]),
        "file": reverse("file-delete", args=[*s, note.pk]),
    }


def test_confirmation_page_says_what_goes_and_deletes_nothing(as_user, session_a, more, alice):
    before = archive_state()
    client = as_user(alice)
    subject = client.get(reverse("subject-delete", args=["A", "SUBJ1"]))
    assert subject.status_code == 200
    html = subject.content.decode()
    subject_files = File.objects.exclude(resource__scan__session__label="SESS3")
    assert f"This deletes 2 sessions, 3 scans, 6 files ({_size(subject_files)})" in html
    assert "Sessions: SESS1, SESS2" in html
    assert '<form method="post"' in html and "Delete subject SUBJ1" in html  # a plain form: no script needed
    session = client.get(reverse("session-delete", args=["A", "SESS1"]))
    assert "This deletes 2 scans, 5 files" in session.content.decode()
    scan = client.get(reverse("scan-delete", args=["A", "SESS1", "1"]))
    dicom = File.objects.filter(resource__scan__session=session_a, resource__scan__scan_id="1")
    assert f"This deletes 2 files ({_size(dicom)})" in scan.content.decode()
    assert archive_state() == before  # looking at a confirmation page changes nothing


def _size(files) -> str:
    return filesizeformat(sum(f.size for f in files))


def test_owner_deletes_a_session_and_lands_on_its_subject(as_user, session_a, more, alice):
    folder = layout.archive_session_dir("A", "SESS1")
    assert folder.is_dir()
    file_ids = list(File.objects.filter(resource__scan__session=session_a).values_list("pk", flat=True))
    response = as_user(alice).post(reverse("session-delete", args=["A", "SESS1"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("subject-detail", args=["A", "SUBJ1"])
    assert "Session SESS1 deleted: 2 scans, 5 files" in response.content.decode()
    assert not ImageSession.objects.filter(label="SESS1").exists()
    assert not Scan.objects.filter(session_id=session_a.pk).exists()
    assert (
        not File.objects.filter(pk__in=file_ids).exists()
        and not Resource.objects.filter(session_id=session_a.pk).exists()
    )
    assert not folder.exists()
    event = AuditEvent.objects.get(action="archive.session.deleted")
    assert event.actor == alice and event.object_id == session_a.accession_id and event.project_id == "A"
    # The other sessions, their rows and files are untouched.
    for label in ("SESS2", "SESS3"):
        session = ImageSession.objects.get(label=label)
        assert all(f.absolute_path.is_file() for f in File.objects.filter(resource__scan__session=session))
    assert Subject.objects.filter(label="SUBJ1").exists()


def test_owner_deletes_a_subject_with_its_sessions(as_user, session_a, more, alice):
    subject = session_a.subject
    response = as_user(alice).post(reverse("subject-delete", args=["A", "subj1"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("subject-list", args=["A"])
    assert "Subject SUBJ1 deleted: 2 sessions, 3 scans, 6 files" in response.content.decode()
    assert not Subject.objects.filter(pk=subject.pk).exists()
    assert set(ImageSession.objects.values_list("label", flat=True)) == {"SESS3"}
    assert not layout.archive_session_dir("A", "SESS1").exists()
    assert not layout.archive_session_dir("A", "SESS2").exists()
    assert layout.archive_session_dir("A", "SESS3").is_dir()
    assert AuditEvent.objects.get(action="archive.subject.deleted").details == {"sessions": 2}
    assert all(f.absolute_path.is_file() for f in File.objects.all())  # what is left is whole


def test_owner_deletes_a_scan(as_user, session_a, more, alice):
    scan1 = Scan.objects.get(session=session_a, scan_id="1")
    response = as_user(alice).post(reverse("scan-delete", args=["A", "SESS1", "1"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("session-detail", args=["A", "SESS1"])
    assert "Scan 1 of session SESS1 deleted: 2 files" in response.content.decode()
    assert not Scan.objects.filter(pk=scan1.pk).exists()
    assert not layout.archive_scan_dir("A", "SESS1", "1").exists()
    assert layout.archive_scan_dir("A", "SESS1", "2").is_dir()
    assert list(Scan.objects.filter(session=session_a).values_list("scan_id", flat=True)) == ["2"]
    assert AuditEvent.objects.filter(action="archive.scan.deleted", actor=alice).count() == 1


def test_owner_deletes_one_resource_file_then_the_resource(as_user, session_a, more, alice):
    client = as_user(alice)
    notes = more["NOTES"]
    first = File.objects.get(resource=notes, name="a.txt")
    path = first.absolute_path
    confirm = client.get(reverse("file-delete", args=["A", "SESS1", first.pk]))
    assert f"This deletes 1 file ({filesizeformat(10)})" in confirm.content.decode()
    response = client.post(reverse("file-delete", args=["A", "SESS1", first.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("session-detail", args=["A", "SESS1"])
    assert "File a.txt of resource NOTES deleted" in response.content.decode()
    assert not path.exists() and not File.objects.filter(pk=first.pk).exists()
    assert File.objects.get(resource=notes).name == "sub/b.txt"
    assert AuditEvent.objects.get(action="archive.file.deleted").details == {"file": "a.txt", "size": 10}

    folder = layout.session_resource_dir("A", "SESS1", "NOTES")
    response = client.post(reverse("session-resource-delete", args=["A", "SESS1", "NOTES"]), follow=True)
    assert (
        f"Resource NOTES of session SESS1 deleted: 1 file ({filesizeformat(6)})" in response.content.decode()
    )
    assert not Resource.objects.filter(pk=notes.pk).exists() and not folder.exists()
    assert Scan.objects.filter(session=session_a).count() == 2  # the scans stay


def test_owner_deletes_a_scan_resource(as_user, session_a, more, alice):
    response = as_user(alice).post(reverse("scan-resource-delete", args=["A", "SESS1", "2", "DICOM"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("scan-detail", args=["A", "SESS1", "2"])
    assert not Resource.objects.filter(scan__session=session_a, scan__scan_id="2").exists()
    assert not layout.scan_resource_dir("A", "SESS1", "2", "DICOM").exists()
    assert Scan.objects.filter(session=session_a, scan_id="2").exists()


def test_a_file_of_another_session_cannot_be_deleted_through_this_one(as_user, session_a, more, alice):
    other = File.objects.filter(resource__scan__session=more["SESS3"]).first()
    before = archive_state()
    assert as_user(alice).post(reverse("file-delete", args=["A", "SESS1", other.pk])).status_code == 404
    assert archive_state() == before


def test_unknown_things_are_404(as_user, session_a, more, alice):
    client = as_user(alice)
    for url in (
        reverse("subject-delete", args=["A", "NOPE"]),
        reverse("session-delete", args=["A", "NOPE"]),
        reverse("scan-delete", args=["A", "SESS1", "9"]),
        reverse("session-resource-delete", args=["A", "SESS1", "NOPE"]),
        reverse("file-delete", args=["A", "SESS1", 999999]),
    ):
        assert client.get(url).status_code == 404, url


# --- who may ------------------------------------------------------------------------------------------
REFUSED = {"bob": 403, "carol": 403, "dave": 404}


@pytest.mark.parametrize("what", ["subject", "session", "scan", "session_resource", "scan_resource", "file"])
def test_only_owners_and_site_admins_may_delete(as_user, cast, session_a, more, what):
    url = urls(session_a, more["NOTES"])[what]
    before = archive_state()
    for who, status in REFUSED.items():
        client = as_user(cast[who])
        assert client.get(url).status_code == status, (what, who)
        assert client.post(url).status_code == status, (what, who)
    assert archive_state() == before  # members, collaborators and strangers changed nothing
    assert as_user(cast["root"]).post(url).status_code == 302  # a site admin may
    assert archive_state() != before
    assert AuditEvent.objects.filter(action__endswith=".deleted", actor=cast["root"]).exists()


def test_nobody_signed_in_is_sent_to_sign_in_and_nothing_goes(client, session_a, more):
    before = archive_state()
    for url in urls(session_a, more["NOTES"]).values():
        response = client.post(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    assert archive_state() == before


def test_delete_controls_are_shown_to_owners_only(as_user, cast, session_a, more):
    pages = {
        reverse("session-detail", args=["A", "SESS1"]): [
            "Delete session",
            "Delete resource NOTES",
            "Delete a.txt",
        ],
        reverse("scan-detail", args=["A", "SESS1", "1"]): [
            "Delete scan",
            "Delete resource DICOM",
            "Delete 1-1.dcm",
        ],
        reverse("subject-detail", args=["A", "SUBJ1"]): ["Delete subject"],
    }
    for who, shown in (("alice", True), ("root", True), ("bob", False), ("carol", False)):
        client = as_user(cast[who])
        for url, labels in pages.items():
            html = client.get(url).content.decode()
            for label in labels:
                assert (label in html) == shown, (who, url, label)


def test_a_public_projects_readers_cannot_delete(as_user, session_a, more, alice, dave):
    from xnatlite import projects

    projects.update_project(session_a.project, by=alice, accessibility="public")
    before = archive_state()
    client = as_user(dave)
    assert client.get(reverse("session-detail", args=["A", "SESS1"])).status_code == 200
    assert client.post(reverse("session-delete", args=["A", "SESS1"])).status_code == 403
    assert archive_state() == before


# --- a whole project (issue 15) -------------------------------------------------------------------
def test_deleting_a_project_shows_what_goes_then_deletes_it_for_its_owner_only(as_user, session_a, cast):
    from xnatlite.models import Project

    url = reverse("project-delete", args=["A"])
    for who, status in (("bob", 403), ("carol", 403), ("dave", 404)):
        assert as_user(cast[who]).get(url).status_code == status, who
        assert as_user(cast[who]).post(url).status_code == status, who
    client = as_user(cast["alice"])
    settings_page = client.get(reverse("project-settings", args=["A"])).content.decode()
    assert url in settings_page
    page = client.get(url).content.decode()
    assert "1 subject</li>" in page and "1 session with 2 scans" in page and "3 archived files" in page
    assert "0 prearchive sessions (0 files)" in page
    assert Project.objects.filter(pk="A").exists()  # looking changes nothing
    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("project-list")
    assert "Project A deleted: 1 subject, 1 session, 2 scans, 3 files" in response.content.decode()
    assert not Project.objects.filter(pk="A").exists() and not Subject.objects.exists()
    assert not layout.archive_project_dir("A").exists()
    assert AuditEvent.objects.filter(action="archive.project.deleted", project_id="A").count() == 1
