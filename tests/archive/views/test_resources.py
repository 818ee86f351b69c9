"""Resource files of sessions and scans from the browser: upload (members and owners), list with size
and MD5, download, refusals with the service's message, and the query count of the listing."""

import hashlib
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from archive import catalogs
from archive.models import File, Resource
from archive.services.resources import create_resource, store_file
from tests.builders import archive_state
from xnatlite import layout
from xnatlite.models import AuditEvent

SESSION_UPLOAD = reverse("session-resource-upload", args=["A", "SESS1"])
SCAN_UPLOAD = reverse("scan-resource-upload", args=["A", "SESS1", "1"])


def upload(client, url, files, **fields):
    data = {f"upload-{k}": v for k, v in {"resource": "NOTES", **fields}.items()}
    data["files"] = [SimpleUploadedFile(name, body) for name, body in files]
    return client.post(url, data)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_member_uploads_files_into_a_new_session_resource(as_user, session_a, bob):
    client = as_user(bob)
    response = upload(
        client, SESSION_UPLOAD, [("a.txt", b"hello"), ("report.pdf", b"%PDF-1.4 x")], format="TXT"
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "session-detail", args=["A", "SESS1"]
    )
    resource = Resource.objects.get(session=session_a, label="NOTES")
    assert resource.format == "TXT"
    folder = layout.session_resource_dir("A", "SESS1", "NOTES")
    for name, body in (("a.txt", b"hello"), ("report.pdf", b"%PDF-1.4 x")):
        file = File.objects.get(resource=resource, name=name)
        assert (file.size, file.md5) == (len(body), md5(body))
        assert (folder / name).read_bytes() == body and file.absolute_path == folder / name
    actions = sorted(AuditEvent.objects.filter(actor=bob).values_list("action", flat=True))
    assert actions == ["archive.file.stored", "archive.file.stored", "archive.resource.created"]

    page = client.get(reverse("session-detail", args=["A", "SESS1"]))
    html = page.content.decode()
    assert "2 files stored in resource NOTES: a.txt, report.pdf" in html
    assert md5(b"hello") in html and "report.pdf" in html
    file = File.objects.get(resource=resource, name="a.txt")
    download = client.get(reverse("file-download", args=["A", "SESS1", file.pk]))
    assert b"".join(download.streaming_content) == b"hello"
    assert "Delete a.txt" not in html  # a member may not delete
    # The uploads are in the session's history and the project's.
    history = [(row.action, row.actor_name) for row in page.context["history"]]
    assert ("archive.file.stored", "bob") in history and ("archive.resource.created", "bob") in history
    project_history = as_user(session_a.project.created_by).get(reverse("project-history", args=["A"]))
    assert "archive.file.stored" in project_history.content.decode()


def test_upload_into_a_scan_resource_in_a_folder_and_its_catalog(as_user, session_a, alice):
    response = upload(
        as_user(alice), SCAN_UPLOAD, [("t1.nii", b"\x5c\x01" * 100)], resource="NIFTI", folder="run1/"
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("scan-detail", args=["A", "SESS1", "1"])
    resource = Resource.objects.get(scan__session=session_a, scan__scan_id="1", label="NIFTI")
    file = File.objects.get(resource=resource)
    assert file.name == "run1/t1.nii"
    assert file.absolute_path == layout.scan_resource_dir("A", "SESS1", "1", "NIFTI") / "run1" / "t1.nii"
    catalog = next(p for p in file.absolute_path.parents[1].iterdir() if catalogs.is_catalog(p.name))
    assert "run1/t1.nii" in catalog.read_text()
    page = as_user(alice).get(reverse("scan-detail", args=["A", "SESS1", "1"])).content.decode()
    assert "run1/t1.nii" in page and file.md5 in page and "Delete run1/t1.nii" in page


def test_an_existing_file_is_a_conflict_unless_overwrite_is_ticked(as_user, session_a, bob):
    client = as_user(bob)
    upload(client, SESSION_UPLOAD, [("a.txt", b"first")])
    before = archive_state()
    response = upload(client, SESSION_UPLOAD, [("a.txt", b"second"), ("b.txt", b"new")])
    assert response.status_code == 409
    html = response.content.decode()
    assert "File &#x27;a.txt&#x27; already exists in resource NOTES" in html
    assert "Tick “Replace files that already exist”" in html
    assert "Stored in NOTES: b.txt" in html  # the other file went in
    a = File.objects.get(name="a.txt")
    assert a.absolute_path.read_bytes() == b"first" and a.md5 == md5(b"first")
    assert set(File.objects.filter(resource__label="NOTES").values_list("name", flat=True)) == {
        "a.txt",
        "b.txt",
    }
    assert archive_state()["rows"]["File"][0] == before["rows"]["File"][0]

    response = upload(client, SESSION_UPLOAD, [("a.txt", b"second")], overwrite="on")
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.absolute_path.read_bytes() == b"second" and (a.md5, a.size) == (md5(b"second"), 6)
    assert AuditEvent.objects.filter(action="archive.file.stored", details__replaced=True).count() == 1


@pytest.mark.parametrize(
    ("name", "folder"),
    [("a.txt", "../../etc"), (".htaccess", ""), ("a.txt", ".."), ("a.txt", "x/./y"), ("a.txt", "x//y")],
)
def test_a_name_that_leaves_the_resource_is_refused_with_the_services_message(
    as_user, session_a, bob, name, folder
):
    before = archive_state()
    response = upload(as_user(bob), SESSION_UPLOAD, [(name, b"x")], folder=folder)
    assert response.status_code == 200
    errors = response.context["upload_form"].errors["folder"]
    assert any("is not allowed: each part may contain letters" in e for e in errors), errors
    assert archive_state() == before  # no resource created for nothing, no file written


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def test_a_zip_is_unpacked_into_the_resource(as_user, session_a, bob):
    body = _zip({"notes/a.txt": b"A", "b.txt": b"BB"})
    response = upload(as_user(bob), SESSION_UPLOAD, [("bundle.zip", body)], extract="on", folder="2024")
    assert response.status_code == 302
    files = {f.name: f for f in File.objects.filter(resource__session=session_a)}
    assert set(files) == {"2024/notes/a.txt", "2024/b.txt"}
    assert files["2024/b.txt"].absolute_path.read_bytes() == b"BB"
    event = AuditEvent.objects.get(action="archive.file.extracted")
    assert event.details == {"archive": "2024/bundle.zip", "files": 2}


def test_a_hostile_zip_keeps_what_came_before_and_says_which_member(as_user, session_a, bob):
    body = _zip({"good.txt": b"fine", "../evil.txt": b"gotcha"})
    response = upload(as_user(bob), SESSION_UPLOAD, [("bad.zip", body)], extract="on")
    assert response.status_code == 400
    assert "../evil.txt" in response.content.decode()
    folder = layout.session_resource_dir("A", "SESS1", "NOTES")
    assert (folder / "good.txt").read_bytes() == b"fine"
    assert not (folder.parent / "evil.txt").exists() and not (layout.data_root() / "evil.txt").exists()
    assert [f.name for f in File.objects.filter(resource__session=session_a)] == ["good.txt"]
    # What was stored is in the audit trail even though the upload stopped.
    assert AuditEvent.objects.get(action="archive.file.extracted").details == {
        "archive": "bad.zip",
        "files": 1,
    }


def test_extract_of_a_file_that_is_no_archive_is_refused(as_user, session_a, bob):
    response = upload(as_user(bob), SESSION_UPLOAD, [("plain.txt", b"text")], extract="on")
    assert response.status_code == 400
    assert "The upload is not a zip or tar archive" in response.content.decode()
    assert not File.objects.filter(resource__session=session_a).exists()


def test_no_files_chosen_is_said_so(as_user, session_a, bob):
    before = archive_state()
    response = as_user(bob).post(SESSION_UPLOAD, {"upload-resource": "NOTES"})
    assert response.status_code == 200 and "Choose one or more files to upload." in response.content.decode()
    assert archive_state() == before


def test_a_bad_resource_label_is_refused(as_user, session_a, bob):
    before = archive_state()
    response = upload(as_user(bob), SESSION_UPLOAD, [("a.txt", b"x")], resource="my notes")
    assert response.status_code == 200 and response.context["upload_form"].errors["resource"]
    assert archive_state() == before


def test_uploads_are_for_members_and_owners(as_user, cast, session_a):
    before = archive_state()
    for who, status in (("carol", 403), ("dave", 404)):
        client = as_user(cast[who])
        for url in (SESSION_UPLOAD, SCAN_UPLOAD):
            assert client.get(url).status_code == status, (who, url)
            assert upload(client, url, [("x.txt", b"x")]).status_code == status, (who, url)
    assert archive_state() == before
    assert upload(as_user(cast["root"]), SCAN_UPLOAD, [("x.txt", b"x")]).status_code == 302
    assert File.objects.filter(name="x.txt", resource__scan__session=session_a).count() == 1


def test_nobody_signed_in_uploads_nothing(client, session_a):
    before = archive_state()
    response = upload(client, SESSION_UPLOAD, [("x.txt", b"x")])
    assert response.status_code in (302, 403)
    assert archive_state() == before


def test_the_upload_form_shows_for_members_only(as_user, cast, session_a):
    for who, shown in (("alice", True), ("bob", True), ("carol", False)):
        html = as_user(cast[who]).get(reverse("session-detail", args=["A", "SESS1"])).content.decode()
        assert ('action="' + SESSION_UPLOAD + '"' in html) == shown, who


@pytest.mark.parametrize("page", ["session", "project"])
def test_the_file_list_costs_the_same_queries_for_2_or_40_files(
    as_user, session_a, alice, django_assert_max_num_queries, page
):
    client = as_user(alice)
    if page == "session":
        owner, url = session_a, reverse("session-detail", args=["A", "SESS1"])
    else:
        owner, url = session_a.project, reverse("project-resources", args=["A"])
    resource = create_resource(owner, "MANY", by=alice)
    counts = []
    for total in (2, 40):
        while File.objects.filter(resource=resource).count() < total:
            n = File.objects.filter(resource=resource).count()
            store_file(resource, f"f{n:03d}.txt", io.BytesIO(b"x" * n), by=alice)
        client.get(url)
        with django_assert_max_num_queries(40) as captured:
            response = client.get(url)
        assert len(response.context["files"].object_list) == total
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_a_post_without_the_csrf_token_is_refused(session_a, bob):
    """The upload view sets its upload handlers before Django reads the body, so it checks the CSRF
    token itself (archive/views/common.py uploads_to_disk): a forged form stores nothing."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    before = archive_state()
    assert upload(client, SESSION_UPLOAD, [("x.txt", b"x")]).status_code == 403
    assert client.post(reverse("session-relabel", args=["A", "SESS1"]), {"label": "X"}).status_code == 403
    assert archive_state() == before
    page = client.get(reverse("session-resource-upload", args=["A", "SESS1"]))
    token = page.cookies["csrftoken"].value
    response = client.post(
        SESSION_UPLOAD,
        {
            "csrfmiddlewaretoken": token,
            "upload-resource": "NOTES",
            "files": [SimpleUploadedFile("x.txt", b"x")],
        },
    )
    assert response.status_code == 302 and File.objects.filter(name="x.txt").exists()


SUBJECT_UPLOAD = reverse("subject-resource-upload", args=["A", "SUBJ1"])


def test_subject_resources_upload_list_download_and_delete(as_user, session_a, alice, bob, carol):
    """A subject's own resources (consent forms, clinical notes) on the subject page."""
    subject = session_a.subject
    response = upload(as_user(bob), SUBJECT_UPLOAD, [("consent.pdf", b"%PDF-1.4 signed")], resource="FORMS")
    assert response.status_code == 302
    assert response["Location"] == reverse("subject-detail", args=["A", "SUBJ1"])
    resource = Resource.objects.get(subject=subject, label="FORMS")
    file = File.objects.get(resource=resource)
    folder = layout.subject_resource_dir("A", "SUBJ1", "FORMS")
    assert file.absolute_path == folder / "consent.pdf"
    assert (folder / "consent.pdf").read_bytes() == b"%PDF-1.4 signed" and file.md5 == md5(b"%PDF-1.4 signed")
    assert AuditEvent.objects.filter(actor=bob, action="archive.file.stored").count() == 1

    # a collaborator reads and downloads it, without upload or delete controls
    page = as_user(carol).get(reverse("subject-detail", args=["A", "SUBJ1"])).content.decode()
    assert "consent.pdf" in page and file.md5 in page
    assert 'action="' + SUBJECT_UPLOAD + '"' not in page and "Delete consent.pdf" not in page
    download = as_user(carol).get(reverse("subject-file-download", args=["A", "SUBJ1", file.pk]))
    assert b"".join(download.streaming_content) == b"%PDF-1.4 signed"
    assert upload(as_user(carol), SUBJECT_UPLOAD, [("x.txt", b"x")], resource="FORMS").status_code == 403
    # a file of another subject's or session's resources is not reachable through this subject
    session_notes = create_resource(session_a, "NOTES", by=alice)
    other = store_file(session_notes, "n.txt", io.BytesIO(b"n"), by=alice)[0]
    assert (
        as_user(alice).get(reverse("subject-file-download", args=["A", "SUBJ1", other.pk])).status_code == 404
    )

    # the owner sees the controls, deletes the file, then the resource
    owner_page = as_user(alice).get(reverse("subject-detail", args=["A", "SUBJ1"])).content.decode()
    assert 'action="' + SUBJECT_UPLOAD + '"' in owner_page and "Delete consent.pdf" in owner_page
    delete_file = reverse("subject-file-delete", args=["A", "SUBJ1", file.pk])
    assert as_user(bob).post(delete_file).status_code == 403 and file.absolute_path.exists()
    assert as_user(alice).post(delete_file)["Location"] == reverse("subject-detail", args=["A", "SUBJ1"])
    assert not File.objects.filter(pk=file.pk).exists() and not (folder / "consent.pdf").exists()
    emptied = as_user(alice).get(reverse("subject-detail", args=["A", "SUBJ1"])).content.decode()
    assert "No files in the subject's resources." in emptied
    delete_resource = reverse("subject-resource-delete", args=["A", "SUBJ1", "FORMS"])
    assert "resource FORMS of subject SUBJ1" in as_user(alice).get(delete_resource).content.decode()
    assert as_user(alice).post(delete_resource).status_code == 302
    assert not Resource.objects.filter(subject=subject).exists() and not folder.exists()
    actions = set(AuditEvent.objects.filter(actor=alice).values_list("action", flat=True))
    assert {"archive.file.deleted", "archive.resource.deleted"} <= actions


def test_the_subject_upload_page_refuses_a_bad_name_and_keeps_the_form(as_user, session_a, bob):
    before = archive_state()
    response = upload(as_user(bob), SUBJECT_UPLOAD, [("x.txt", b"x")], resource="FORMS", folder="../up")
    assert response.status_code == 200 and response.context["upload_form"].errors["folder"]
    assert "subject SUBJ1" in response.content.decode()
    assert archive_state() == before


PROJECT_UPLOAD = reverse("project-resource-upload", args=["A"])
PROJECT_FILES = reverse("project-resources", args=["A"])


def test_project_files_upload_list_download_and_delete(as_user, session_a, alice, bob, carol, dave):
    """The project's own files on its Files tab: protocols, consent templates."""
    project = session_a.project
    response = upload(as_user(bob), PROJECT_UPLOAD, [("mri.pdf", b"%PDF-1.4 protocol")], resource="PROTOCOLS")
    assert response.status_code == 302 and response["Location"] == PROJECT_FILES
    file = File.objects.get(resource__project=project, resource__label="PROTOCOLS")
    folder = layout.project_resource_dir("A", "PROTOCOLS")
    assert (
        file.absolute_path == folder / "mri.pdf" and (folder / "mri.pdf").read_bytes() == b"%PDF-1.4 protocol"
    )
    assert AuditEvent.objects.filter(actor=bob, action="archive.file.stored").count() == 1

    page = as_user(carol).get(PROJECT_FILES).content.decode()
    assert "mri.pdf" in page and file.md5 in page and ">Files</a>" in page
    assert 'action="' + PROJECT_UPLOAD + '"' not in page and "Delete mri.pdf" not in page
    download = as_user(carol).get(reverse("project-file-download", args=["A", file.pk]))
    assert b"".join(download.streaming_content) == b"%PDF-1.4 protocol"
    assert as_user(dave).get(PROJECT_FILES).status_code == 404  # a private project stays hidden
    # a subject's file is not a project file
    notes = create_resource(session_a.subject, "NOTES", by=alice)
    other = store_file(notes, "n.txt", io.BytesIO(b"n"), by=alice)[0]
    assert as_user(alice).get(reverse("project-file-download", args=["A", other.pk])).status_code == 404

    owner_page = as_user(alice).get(PROJECT_FILES).content.decode()
    assert 'action="' + PROJECT_UPLOAD + '"' in owner_page and "Delete mri.pdf" in owner_page
    assert (
        as_user(alice).post(reverse("project-file-delete", args=["A", file.pk]))["Location"] == PROJECT_FILES
    )
    assert not (folder / "mri.pdf").exists() and not File.objects.filter(pk=file.pk).exists()
    delete_resource = reverse("project-resource-delete", args=["A", "PROTOCOLS"])
    assert "resource PROTOCOLS of project A" in as_user(alice).get(delete_resource).content.decode()
    assert as_user(alice).post(delete_resource)["Location"] == PROJECT_FILES
    assert not Resource.objects.filter(project=project).exists() and not folder.exists()
