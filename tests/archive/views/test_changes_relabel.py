"""Relabelling archived subjects and sessions from the browser (members and owners): folders renamed,
file rows repointed, errors next to the field, nothing changed when refused."""

import io

import pydicom
import pytest
from django.urls import reverse

from archive.models import File, ImageSession, Subject
from archive.services.resources import create_resource, store_file
from tests.builders import add_dicom_scan, archive_state
from tests.factories import ImageSessionFactory
from xnatlite import layout
from xnatlite.models import AuditEvent


def relabel(client, what: str, current: str, label: str, **kwargs):
    name = "session-relabel" if what == "session" else "subject-relabel"
    return client.post(reverse(name, args=["A", current]), {"label": label}, **kwargs)


def test_member_relabels_a_session_and_its_folder_follows(as_user, session_a, bob):
    old_folder = layout.archive_session_dir("A", "SESS1")
    pixels = {
        f.name: pydicom.dcmread(f.absolute_path).PixelData
        for f in File.objects.filter(resource__scan__session=session_a)
    }
    response = relabel(as_user(bob), "session", "SESS1", "SESS1_v2", follow=True)
    assert response.redirect_chain[-1][0] == reverse("session-detail", args=["A", "SESS1_v2"])
    assert (
        "Session SESS1 is now SESS1_v2; its folder was renamed and its DICOM files carry the new label."
        in response.content.decode()
    )
    session_a.refresh_from_db()
    assert session_a.label == "SESS1_v2"
    new_folder = layout.archive_session_dir("A", "SESS1_v2")
    assert new_folder.is_dir() and not old_folder.exists()
    files = File.objects.filter(resource__scan__session=session_a)
    assert files.count() == 3
    for file in files:  # every row points into the new folder, at the same image, the new label inside
        assert file.path.startswith(layout.relative_path(new_folder) + "/")
        ds = pydicom.dcmread(file.absolute_path)
        assert ds.PixelData == pixels[file.name] and ds.PatientID == "SESS1_v2"
        assert file.size == file.absolute_path.stat().st_size
    event = AuditEvent.objects.get(action="archive.session.relabelled")
    assert event.actor == bob and event.details == {"old_label": "SESS1", "label": "SESS1_v2"}
    # The session's downloads and pages answer under the new label.
    assert as_user(bob).get(reverse("session-download", args=["A", "SESS1_v2"])).status_code == 200
    assert as_user(bob).get(reverse("session-detail", args=["A", "SESS1"])).status_code == 404


def test_owner_relabels_a_subject_and_its_resource_folder_follows(as_user, session_a, alice):
    resource = create_resource(session_a.subject, "CONSENT", by=alice)
    store_file(resource, "form.txt", io.BytesIO(b"signed"), by=alice)
    old_folder = layout.archive_project_dir("A") / "subjects" / "SUBJ1"
    response = relabel(as_user(alice), "subject", "SUBJ1", "P001", follow=True)
    assert response.redirect_chain[-1][0] == reverse("subject-detail", args=["A", "P001"])
    assert "Subject SUBJ1 is now P001; its folder was renamed" in response.content.decode()
    subject = Subject.objects.get(pk=session_a.subject_id)
    assert subject.label == "P001" and not old_folder.exists()
    file = File.objects.get(resource=resource)
    assert file.absolute_path.read_bytes() == b"signed"
    assert file.path.startswith("archive/A/subjects/P001/CONSENT/")
    assert ImageSession.objects.get(pk=session_a.pk).label == "SESS1"  # its sessions keep their labels
    assert AuditEvent.objects.filter(action="archive.subject.relabelled", actor=alice).count() == 1


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("a b", "may only contain letters, digits, _ and -"),
        ("../x", "may only contain letters, digits, _ and -"),
        ("", "This field is required."),
        ("x" * 65, "at most 64 characters"),
    ],
)
def test_a_bad_label_is_shown_next_to_the_field_and_nothing_changes(as_user, session_a, bob, label, message):
    before = archive_state()
    response = relabel(as_user(bob), "session", "SESS1", label)
    assert response.status_code == 200
    form = response.context["relabel_form"]
    assert any(message in error for error in form.errors["label"]), form.errors
    html = response.content.decode()
    field = html[html.index('id="id_label"') :]
    assert 'aria-invalid="true"' in field[:200] and message.replace("'", "&#x27;") in field[:800]
    assert archive_state() == before


def test_a_label_in_use_is_a_conflict_next_to_the_field(as_user, session_a, project_a, bob):
    ImageSessionFactory(project=project_a, subject=session_a.subject, label="SESS2")
    before = archive_state()
    response = relabel(as_user(bob), "session", "SESS1", "sess2")
    assert response.status_code == 409
    assert "Session &#x27;sess2&#x27; already exists in project A" in response.content.decode()
    assert archive_state() == before
    subject_response = relabel(as_user(bob), "subject", "SUBJ1", "SUBJ1")
    assert subject_response.status_code == 302  # the same label: nothing to do, no audit
    assert archive_state() == before


def test_relabel_pages_and_forms_are_for_members_and_owners(as_user, cast, session_a):
    add_dicom_scan(session_a, "3", "MR_small.dcm")
    before = archive_state()
    for who, status in (("carol", 403), ("dave", 404)):
        client = as_user(cast[who])
        for what, current in (("session", "SESS1"), ("subject", "SUBJ1")):
            name = f"{what}-relabel"
            assert client.get(reverse(name, args=["A", current])).status_code == status, (who, what)
            assert relabel(client, what, current, "HIJACK").status_code == status, (who, what)
    assert archive_state() == before
    assert relabel(as_user(cast["root"]), "session", "SESS1", "BY_ROOT").status_code == 302
    assert ImageSession.objects.get(pk=session_a.pk).label == "BY_ROOT"


def test_nobody_signed_in_cannot_relabel(client, session_a):
    before = archive_state()
    response = relabel(client, "session", "SESS1", "X")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert archive_state() == before


def test_rename_controls_show_for_members_not_collaborators(as_user, cast, session_a):
    for who, shown in (("bob", True), ("alice", True), ("carol", False)):
        client = as_user(cast[who])
        for url, text in (
            (reverse("session-detail", args=["A", "SESS1"]), "Rename session"),
            (reverse("subject-detail", args=["A", "SUBJ1"]), "Rename subject"),
        ):
            assert (text in client.get(url).content.decode()) == shown, (who, url)
