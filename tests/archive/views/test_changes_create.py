"""Creating subjects (with demographics) and empty sessions by hand from the browser."""

import datetime

import pytest
from django.urls import reverse

from archive.models import ImageSession, SessionType, Subject
from archive.services.accession import site_id_clean
from tests.builders import archive_state
from xnatlite import layout
from xnatlite.models import AuditEvent

NEW_SUBJECT = reverse("subject-create", args=["A"])


def subject_form(**changes):
    data = {"label": "P002", "group": "", "src": "", "gender": "", "yob": "", "handedness": "", "note": ""}
    data.update(changes)
    return data


def test_member_creates_a_subject_with_demographics(as_user, project_a, bob):
    response = as_user(bob).post(
        NEW_SUBJECT,
        subject_form(group="control", gender="female", yob="1980", handedness="left"),
        follow=True,
    )
    subject = Subject.objects.get(project=project_a, label="P002")
    assert response.redirect_chain[-1][0] == reverse("subject-detail", args=["A", "P002"])
    assert f"Subject P002 created ({subject.accession_id})." in response.content.decode()
    assert (subject.group, subject.gender, subject.yob, subject.handedness) == (
        "control",
        "female",
        1980,
        "left",
    )
    assert subject.accession_id.startswith(site_id_clean() + "_S")
    actions = list(AuditEvent.objects.filter(object_id=subject.accession_id).values_list("action", "actor"))
    assert sorted(actions) == [("archive.subject.created", bob.pk), ("archive.subject.updated", bob.pk)]
    assert not (layout.archive_project_dir("A") / "subjects" / "P002").exists()  # no folder until files come


def test_a_subject_with_only_a_label(as_user, project_a, alice):
    assert as_user(alice).post(NEW_SUBJECT, subject_form(label="BARE")).status_code == 302
    assert Subject.objects.get(label="BARE").group == ""
    assert list(
        AuditEvent.objects.filter(action__startswith="archive.subject.").values_list("action", flat=True)
    ) == ["archive.subject.created"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (subject_form(label="a b"), "label", "may only contain letters, digits, _ and -"),
        (subject_form(label=""), "label", "This field is required."),
        (subject_form(label="subj1"), "label", "Subject &#x27;subj1&#x27; already exists in project A"),
        (subject_form(yob="1700"), None, "Year of birth must be between 1850"),
        (subject_form(gender="x"), "gender", "Select a valid choice"),
    ],
)
def test_refused_subjects_leave_nothing_behind(as_user, subject_a, bob, data, field, message):
    before = archive_state()
    response = as_user(bob).post(NEW_SUBJECT, data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert (field or "__all__") in errors, errors
    assert message in response.content.decode()
    assert archive_state() == before  # not even a subject without its demographics


def test_the_new_subject_form_is_for_members_and_owners(as_user, cast, project_a):
    before = archive_state()
    for who, status in (("carol", 403), ("dave", 404)):
        client = as_user(cast[who])
        assert client.get(NEW_SUBJECT).status_code == status
        assert client.post(NEW_SUBJECT, subject_form(label="X")).status_code == status
    assert archive_state() == before
    assert as_user(cast["root"]).post(NEW_SUBJECT, subject_form(label="BY_ROOT")).status_code == 302
    assert Subject.objects.filter(label="BY_ROOT").exists()


def test_nobody_signed_in_is_sent_to_sign_in(client, project_a):
    response = client.post(NEW_SUBJECT, subject_form())
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not Subject.objects.exists()


def test_new_subject_button_shows_for_members_not_collaborators(as_user, cast, project_a):
    for who, shown in (("bob", True), ("carol", False)):
        for url in (reverse("subject-list", args=["A"]), reverse("project-detail", args=["A"])):
            assert (NEW_SUBJECT in as_user(cast[who]).get(url).content.decode()) == shown, (who, url)


# --- empty sessions -------------------------------------------------------------------------------------
NEW_SESSION = reverse("session-create", args=["A", "SUBJ1"])


def test_member_creates_an_empty_session(as_user, subject_a, bob):
    data = {"label": "MR_NOTES", "xsi_type": SessionType.MR, "date": "2024-05-06", "visit_id": "V1"}
    response = as_user(bob).post(NEW_SESSION, data, follow=True)
    session = ImageSession.objects.get(project_id="A", label="MR_NOTES")
    assert response.redirect_chain[-1][0] == reverse("session-detail", args=["A", "MR_NOTES"])
    assert (session.subject, session.xsi_type, session.modality) == (subject_a, SessionType.MR, "MR")
    assert (session.date, session.visit_id) == (datetime.date(2024, 5, 6), "V1")
    assert AuditEvent.objects.filter(action="archive.session.created", actor=bob).count() == 1
    assert "This session has no scans." in response.content.decode()


def test_an_existing_session_label_is_a_conflict(as_user, session_a, bob):
    before = archive_state()
    response = as_user(bob).post(NEW_SESSION, {"label": "sess1", "xsi_type": SessionType.CT})
    assert response.status_code == 409
    assert "already exists in project A" in response.content.decode()
    assert archive_state() == before


def test_collaborators_and_strangers_cannot_create_sessions(as_user, cast, subject_a):
    before = archive_state()
    for who, status in (("carol", 403), ("dave", 404)):
        response = as_user(cast[who]).post(NEW_SESSION, {"label": "X", "xsi_type": SessionType.MR})
        assert response.status_code == status
    assert archive_state() == before
