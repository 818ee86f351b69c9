"""The identity policy from the prearchive pages (archiving/identity.py): "Archive as it is", the bulk
Archive and Review and Archive refuse labels that look like a person's name or a medical record number
until the person archiving confirms them; auto-archive stops such a session in the prearchive, and the
owner is told so next to the setting. Real files, real archive service."""

import pydicom
from django.urls import reverse

from archive.models import File, ImageSession
from prearchive.models import PrearchiveSession, Status
from tests.prearchive.views.test_actions import args, ready
from xnatlite.models import AuditEvent, PrearchiveCode

FLAGGED = {"subject": "LOE_LISA", "session": "MRN0044444"}


def test_archive_as_it_is_asks_to_confirm_the_labels_first(transactional_db, as_user, project_a, bob):
    session = ready(**FLAGGED)
    client = as_user(bob)
    url = reverse("prearchive-action", args=args(session))
    response = client.post(url, {"action": "archive"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "the subject label &#x27;LOE_LISA&#x27; looks like a person&#x27;s name" in html
    assert "the session label &#x27;MRN0044444&#x27; looks like a medical record number" in html
    assert 'name="confirm_identifiers" value="1"' in html and f'action="{url}"' in html
    session.refresh_from_db()
    assert session.status == Status.READY and not ImageSession.objects.exists()
    assert not AuditEvent.objects.filter(action="prearchive.session.archive_requested").exists()

    confirmed = client.post(url, {"action": "archive", "confirm_identifiers": "1"})
    assert confirmed.status_code == 302
    archived = ImageSession.objects.get(project=project_a, label="MRN0044444")
    assert archived.subject.label == "LOE_LISA"
    event = AuditEvent.objects.get(action="prearchive.session.archive_requested", actor=bob)
    assert event.details["confirm_identifiers"] is True
    assert len(event.details["confirmed_identifiers"]) == 2


def test_bulk_archive_goes_ahead_with_coded_labels_and_asks_about_the_others(
    transactional_db, as_user, project_a, bob
):
    coded = ready("MR_small.dcm", subject="SUBJ7", session="SUBJ7_MR1")
    flagged = ready("CT_small.dcm", **FLAGGED)
    client = as_user(bob)
    back = reverse("prearchive-project", args=["A"])
    data = {"action": "archive", "session": [str(coded.pk), str(flagged.pk)], "next": back}
    response = client.post(reverse("prearchive-bulk"), data)
    assert response.status_code == 200
    assert ImageSession.objects.filter(label="SUBJ7_MR1").exists()  # the coded one went ahead
    assert not ImageSession.objects.filter(label="MRN0044444").exists()
    flagged.refresh_from_db()
    assert flagged.status == Status.READY
    html = response.content.decode()
    assert "LOE_LISA" in html and f'name="session" value="{flagged.pk}"' in html
    assert f'name="session" value="{coded.pk}"' not in html  # only what waits for a confirmation

    confirmed = client.post(
        reverse("prearchive-bulk"),
        {"action": "archive", "session": [str(flagged.pk)], "next": back, "confirm_identifiers": "1"},
    )
    assert confirmed.status_code == 302 and confirmed["Location"] == back
    assert ImageSession.objects.get(label="MRN0044444").subject.label == "LOE_LISA"
    assert not PrearchiveSession.objects.exists()


def test_review_archives_flagged_labels_only_with_the_box_ticked(transactional_db, as_user, project_a, bob):
    session = ready(**FLAGGED)
    client = as_user(bob)
    url = reverse("prearchive-review", args=args(session))
    page = client.get(url)
    assert 'id="id_confirm_identifiers"' in page.content.decode()
    assert 'name="archive" value="1" disabled' not in page.content.decode()  # the box lifts code 30
    fields = {"project": "A", **FLAGGED, "label": FLAGGED["session"], "overwrite": "none", "archive": "1"}
    refused = client.post(url, fields)
    assert refused.status_code == 200
    assert "tick this box" in refused.context["form"].errors["confirm_identifiers"][0]
    assert not ImageSession.objects.exists()

    archived = client.post(url, {**fields, "confirm_identifiers": "on"})
    assert archived.status_code == 302
    session_row = ImageSession.objects.get(label="MRN0044444")
    (file,) = File.objects.filter(resource__scan__session=session_row, resource__label="DICOM")
    ds = pydicom.dcmread(file.absolute_path, stop_before_pixels=True)
    assert (str(ds.PatientName), ds.PatientID) == ("LOE_LISA", "MRN0044444")  # what was confirmed


def test_review_with_a_code_needs_no_confirmation(transactional_db, as_user, project_a, bob):
    session = ready(**FLAGGED)
    url = reverse("prearchive-review", args=args(session))
    fields = {"project": "A", "subject": "SUBJ9", "label": "SUBJ9_MR1", "overwrite": "none", "archive": "1"}
    assert as_user(bob).post(url, fields).status_code == 302
    assert ImageSession.objects.get(label="SUBJ9_MR1").subject.label == "SUBJ9"


def test_auto_archive_stops_flagged_labels_in_the_prearchive_with_the_reason(
    transactional_db, as_user, project_a, bob
):
    project_a.prearchive_code = PrearchiveCode.AUTO_ARCHIVE
    project_a.save()
    coded = ready("MR_small.dcm", subject="SUBJ7", session="SUBJ7_MR1")
    flagged = ready("CT_small.dcm", **FLAGGED)
    assert ImageSession.objects.filter(label="SUBJ7_MR1").exists()  # auto-archived as before
    assert not PrearchiveSession.objects.filter(pk=coded.pk).exists()
    flagged.refresh_from_db()
    assert flagged.status == Status.ERROR
    assert flagged.status_reason.startswith("Not auto-archived: the subject label 'LOE_LISA' looks like")
    assert not ImageSession.objects.filter(label="MRN0044444").exists()
    event = AuditEvent.objects.get(action="prearchive.session.auto_archive_refused")
    assert event.actor_name == "system:auto-archive" and len(event.details["findings"]) == 2
    client = as_user(bob)
    listing = client.get(reverse("prearchive-project", args=["A"])).content.decode()
    assert "Not auto-archived: the subject label &#x27;LOE_LISA&#x27;" in listing
    detail = client.get(reverse("prearchive-session", args=args(flagged))).content.decode()
    assert "ERROR:</strong> Not auto-archived" in detail
    # A member confirms it from there.
    client.post(
        reverse("prearchive-action", args=args(flagged)), {"action": "archive", "confirm_identifiers": "1"}
    )
    assert ImageSession.objects.filter(label="MRN0044444").exists()


def test_the_owner_is_warned_next_to_the_auto_archive_setting(as_user, project_a, alice):
    html = as_user(alice).get(reverse("project-settings", args=["A"])).content.decode()
    assert 'id="prearchive_code-help"' in html
    assert "without anyone reviewing it" in html and "stops in the prearchive as ERROR" in html
