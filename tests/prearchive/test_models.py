"""The status table and the one function that changes a status (xnat-spec.md §3.3, §3.4)."""

import pytest

from prearchive.models import (
    ACCEPTING,
    FORKING,
    REOPENING,
    TRANSITIONS,
    AutoArchive,
    PrearchiveSession,
    Status,
    change_status,
)
from xnatlite.errors import InvalidStatus


def make_session(status=Status.READY, **fields) -> PrearchiveSession:
    defaults = {
        "timestamp": "20240102_101500123",
        "folder_name": "E1",
        "label": "E1",
        "study_instance_uid": "1.2.3",
    }
    return PrearchiveSession.objects.create(status=status, **{**defaults, **fields})


def test_the_vocabulary_is_xnats():
    names = {s.value for s in Status}
    assert {
        "RECEIVING",
        "RECEIVING_INTERRUPT",
        "BUILDING",
        "READY",
        "ARCHIVING",
        "MOVING",
        "DELETING",
    } <= names
    assert {
        "QUEUED_BUILDING",
        "QUEUED_ARCHIVING",
        "QUEUED_MOVING",
        "QUEUED_DELETING",
        "CONFLICT",
        "ERROR",
    } <= names
    assert {"_RECEIVING", "_BUILDING", "_ARCHIVING", "_CONFLICT"} <= names
    assert set(TRANSITIONS) == set(Status)  # every status says where it may go


def test_late_data_sets_cover_every_status_once():
    assert ACCEPTING | REOPENING | FORKING | {Status.BUILDING} == set(Status)
    assert not (ACCEPTING & REOPENING) and not (ACCEPTING & FORKING) and not (REOPENING & FORKING)
    assert {Status.ARCHIVING, Status.QUEUED_ARCHIVING, Status.MOVING, Status.DELETING} <= FORKING


@pytest.mark.parametrize(
    "old, new",
    [
        (Status.RECEIVING, Status.BUILDING),
        (Status.BUILDING, Status.READY),
        (Status.BUILDING, Status.RECEIVING_INTERRUPT),
        (Status.READY, Status.QUEUED_ARCHIVING),
        (Status.QUEUED_ARCHIVING, Status.ARCHIVING),
        (Status.ARCHIVING, Status.CONFLICT),
        (Status.CONFLICT, Status.RECEIVING),
        (Status.ERROR, Status.READY),
        (Status.RECEIVING, Status.LOCKED_RECEIVING.value),
        (Status.LOCKED_RECEIVING, Status.RECEIVING),
        (Status.MOVING, Status.READY),
    ],
)
def test_allowed_transitions(db, old, new):
    session = make_session(old)
    assert change_status(session, new) is True
    session.refresh_from_db()
    assert session.status == new


@pytest.mark.parametrize(
    "old, new",
    [
        (Status.RECEIVING, Status.ARCHIVING),
        (Status.ARCHIVING, Status.RECEIVING),
        (Status.DELETING, Status.ARCHIVING),
        (Status.LOCKED_ARCHIVING, Status.MOVING),
    ],
)
def test_it_refuses_transitions_not_in_the_table(db, old, new):
    session = make_session(old)
    with pytest.raises(InvalidStatus, match=f"from {old} to {new}"):
        change_status(session, new)
    session.refresh_from_db()
    assert session.status == old


def test_two_processes_never_both_win(db):
    first = make_session(Status.READY)
    second = PrearchiveSession.objects.get(pk=first.pk)  # the same row, loaded by another process
    assert change_status(first, Status.QUEUED_ARCHIVING) is True
    assert change_status(second, Status.QUEUED_DELETING) is False
    assert second.status == Status.READY  # the loser's instance is left as it was
    assert PrearchiveSession.objects.get(pk=first.pk).status == Status.QUEUED_ARCHIVING


def test_the_reason_is_stored_for_errors_and_cleared_after(db):
    session = make_session(Status.ARCHIVING)
    change_status(session, Status.CONFLICT, reason="Session already exists, retry with overwrite enabled")
    session.refresh_from_db()
    assert session.status_reason.startswith("Session already exists")
    change_status(session, Status.READY)
    session.refresh_from_db()
    assert session.status_reason == ""


def test_columns_as_xnat_reports_them(db, project_a):
    session = make_session(project=project_a)
    unassigned = make_session(folder_name="E2", label="E2")
    assert session.url == "/prearchive/projects/A/20240102_101500123/E1"
    assert unassigned.url == "/prearchive/projects/Unassigned/20240102_101500123/E2"
    assert unassigned.folder.parts[-3:] == ("prearchive", "20240102_101500123", "E2")
    assert session.folder.parts[-4:] == ("prearchive", "A", "20240102_101500123", "E1")
    assert AutoArchive.for_code(5) == "AutoArchiveOverwrite" and AutoArchive.for_code(0) == "Manual"
