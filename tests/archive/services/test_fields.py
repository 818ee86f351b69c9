"""archive/services/fields.py: the metadata-edit services the pages and the REST API share."""

import datetime

import pytest

from archive.models import ImageSession, Scan, Subject
from archive.services.scans import update_scan
from archive.services.sessions import update_session
from archive.services.subjects import update_subject
from xnatlite.errors import Forbidden, InvalidInput, NotFound
from xnatlite.models import AuditEvent


def test_member_edits_subject_demographics_and_only_changed_fields_are_audited(subject_a, bob):
    update_subject(subject_a, by=bob, gender="F", yob="1980", handedness="left", group="control")
    subject_a.refresh_from_db()
    assert (subject_a.gender, subject_a.yob, subject_a.handedness, subject_a.group) == (
        "female",
        1980,
        "left",
        "control",
    )
    event = AuditEvent.objects.get(action="archive.subject.updated")
    assert event.actor == bob
    assert event.details == {"fields": ["gender", "group", "handedness", "yob"]}
    assert event.object_id == subject_a.accession_id and event.project_id == "A"

    # The same values again change nothing and leave no second audit event.
    update_subject(subject_a, by=bob, gender="female", yob=1980)
    assert AuditEvent.objects.filter(action="archive.subject.updated").count() == 1


def test_session_fields_are_parsed_and_saved(session_a, alice):
    update_session(
        session_a,
        by=alice,
        visit_id="V2",
        session_type="baseline",
        date="2024-03-05",
        time="09:30",
        note="ok",
    )
    session = ImageSession.objects.get(pk=session_a.pk)
    assert session.visit_id == "V2" and session.session_type == "baseline" and session.note == "ok"
    assert session.date == datetime.date(2024, 3, 5) and session.time == datetime.time(9, 30)
    assert AuditEvent.objects.get(action="archive.session.updated").details == {
        "fields": ["date", "note", "session_type", "time", "visit_id"]
    }


def test_scan_quality_type_and_note(session_a, bob):
    scan = session_a.scans.get(scan_id="1")
    update_scan(scan, by=bob, quality="Questionable", type="T1w", note="motion")
    scan.refresh_from_db()
    assert (scan.quality, scan.type, scan.note) == ("questionable", "T1w", "motion")
    event = AuditEvent.objects.get(action="archive.scan.updated")
    assert event.project_id == "A" and event.details == {"fields": ["note", "quality", "type"]}


def test_a_bad_value_writes_nothing_even_when_other_fields_are_good(session_a, bob):
    scan = session_a.scans.get(scan_id="1")
    before = Scan.objects.filter(pk=scan.pk).values().get()
    with pytest.raises(InvalidInput, match="Quality must be one of usable, questionable, unusable"):
        update_scan(scan, by=bob, type="changed", quality="great")
    assert Scan.objects.filter(pk=scan.pk).values().get() == before
    assert not AuditEvent.objects.filter(action="archive.scan.updated").exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"yob": "eighty"}, "Year of birth must be a year"),
        ({"yob": "1700"}, "between 1850"),
        ({"gender": "x"}, "Gender must be one of"),
        ({"handedness": "both"}, "Handedness must be one of"),
        ({"label": "NEW"}, "cannot be changed here"),
        ({"accession_id": "X"}, "cannot be changed here"),
        ({"group": "g" * 300}, "at most 255 characters"),
    ],
)
def test_invalid_subject_fields_are_refused_with_a_reason(subject_a, alice, fields, message):
    before = Subject.objects.filter(pk=subject_a.pk).values().get()
    with pytest.raises(InvalidInput, match=message):
        update_subject(subject_a, by=alice, **fields)
    assert Subject.objects.filter(pk=subject_a.pk).values().get() == before


@pytest.mark.parametrize(
    ("fields", "message"), [({"date": "05/03/2024"}, "YYYY-MM-DD"), ({"time": "9h"}, "HH:MM")]
)
def test_invalid_session_dates_are_refused(session_a, alice, fields, message):
    with pytest.raises(InvalidInput, match=message):
        update_session(session_a, by=alice, **fields)
    session_a.refresh_from_db()
    assert session_a.date is None and session_a.time is None


def test_label_and_uid_are_not_editable_here(session_a, alice):
    with pytest.raises(InvalidInput, match="label"):
        update_session(session_a, by=alice, label="OTHER")
    scan = session_a.scans.get(scan_id="2")
    with pytest.raises(InvalidInput, match="series_instance_uid"):
        update_scan(scan, by=alice, series_instance_uid="1.2.3")
    session_a.refresh_from_db()
    assert session_a.label == "SESS1"


def test_collaborator_is_forbidden_and_stranger_gets_not_found(session_a, carol, dave):
    scan = session_a.scans.get(scan_id="1")
    with pytest.raises(Forbidden):
        update_scan(scan, by=carol, quality="unusable")
    with pytest.raises(NotFound):
        update_session(session_a, by=dave, note="mine now")
    with pytest.raises(NotFound):
        update_subject(session_a.subject, by=dave, note="mine now")
    scan.refresh_from_db()
    session_a.refresh_from_db()
    assert scan.quality == "usable" and session_a.note == ""
    assert not AuditEvent.objects.filter(action__endswith=".updated").exists()


def test_public_project_readers_still_cannot_edit(session_a, alice, dave):
    from xnatlite import projects

    projects.update_project(session_a.project, by=alice, accessibility="public")
    session_a.refresh_from_db()
    with pytest.raises(Forbidden):
        update_session(session_a, by=dave, note="x")
