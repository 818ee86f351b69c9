"""Deleting, moving, rebuilding and resetting prearchive sessions (prearchive/operations.py): who may do
each (xnat-spec.md §2.4), what each does to the rows and the folders, and the audit record it leaves."""

import pytest

from archive.models import ImageSession
from prearchive import handoff, operations
from prearchive.models import PrearchiveSession, Status, change_status
from tests.dicomgen import make_study
from tests.sessions import check_archived, ingest_study, make_ready
from xnatlite import projects
from xnatlite.errors import Forbidden, InvalidStatus, NotFound, XnatliteError
from xnatlite.models import AuditEvent, PrearchiveCode

# Owners and members use a project's prearchive; collaborators get Forbidden (they may read the
# project), strangers NotFound (they may not know it exists), site admins everything.
ROLES = [("alice", None), ("bob", None), ("carol", Forbidden), ("dave", NotFound), ("root", None)]


def _call(operation, session, user):
    if operation == "delete":
        return operations.delete_session(session, by=user)
    if operation == "move":
        return operations.move_session(session, "D", by=user)
    if operation == "rebuild":
        return operations.rebuild_session(session, by=user)
    return operations.reset_status(session, by=user)


@pytest.mark.parametrize("operation", ["delete", "rebuild", "reset"])
@pytest.mark.parametrize("username, error", ROLES)
def test_each_operation_checks_the_role(ready, cast, operation, username, error):
    session = ready(n_series=1, n_instances=1)
    change_status(session, Status.ERROR, reason="for reset")
    before = AuditEvent.objects.count()
    if error is not None:
        with pytest.raises(error):
            _call(operation, session, cast[username])
        session.refresh_from_db()
        assert session.status == Status.ERROR and session.folder.is_dir()
        assert AuditEvent.objects.count() == before
        return
    _call(operation, session, cast[username])
    assert AuditEvent.objects.count() > before


@pytest.mark.parametrize("username", ["alice", "bob", "carol", "dave"])
def test_unassigned_sessions_are_for_site_admins_only(db, cast, username):
    session = make_ready(ingest_study(make_study(1, 1, patient_id="U1")))
    assert session.project_id is None
    for operation in ("delete", "move", "rebuild", "reset"):
        with pytest.raises(NotFound):
            _call(operation, session, cast[username])
    session.refresh_from_db()
    assert session.status == Status.READY and session.folder.is_dir()


def test_move_needs_edit_rights_on_the_destination(ready, cast):
    session = ready(n_series=1, n_instances=2)
    with pytest.raises(XnatliteError, match="Unable to modify session data for destination project 'D'"):
        operations.move_session(session, "D", by=cast["bob"])
    session.refresh_from_db()
    assert session.project_id == "A" and session.folder.is_dir()


def test_move_to_an_auto_archive_project_leaves_the_session_ready(ready, cast, project_d):
    from xnatlite import projects

    projects.update_project(project_d, by=cast["dave"], prearchive_code=PrearchiveCode.AUTO_ARCHIVE)
    projects.set_project_role(project_d, cast["alice"], "member", by=cast["dave"])
    session = ready(n_series=1, n_instances=2)
    old_folder = session.folder
    moved = operations.move_session(session, "D", by=cast["alice"])
    moved.refresh_from_db()
    assert (moved.project_id, moved.status) == ("D", Status.READY)
    assert not old_folder.exists() and moved.folder.is_dir()
    assert sorted(p.name for p in moved.folder.rglob("*.dcm")) == sorted(
        f.path.rsplit("/", 1)[-1] for f in moved.files.all()
    )
    assert not ImageSession.objects.exists()
    event = AuditEvent.objects.get(action="prearchive.session.moved")
    assert (event.details["from_project"], event.details["to_project"]) == ("A", "D")


def test_delete_removes_the_row_and_the_folder(ready, project_a, bob):
    session = ready(n_series=1, n_instances=2)
    folder = session.folder
    operations.delete_session(session, by=bob)
    assert not PrearchiveSession.objects.filter(pk=session.pk).exists()
    assert not folder.exists()
    assert AuditEvent.objects.filter(action="prearchive.session.deleted", actor=bob).exists()


def test_delete_refuses_a_session_being_archived(ready, project_a, bob):
    session = ready(n_series=1, n_instances=1)
    change_status(session, Status.QUEUED_ARCHIVING)
    with pytest.raises(InvalidStatus):
        operations.delete_session(session, by=bob)
    assert session.folder.is_dir()


def test_rebuild_of_a_receiving_session_commits_and_auto_archives(
    db, project_a, alice, django_capture_on_commit_callbacks
):

    projects.update_project(project_a, by=alice, prearchive_code=PrearchiveCode.AUTO_ARCHIVE)
    session = ingest_study(make_study(1, 2, study_description="A", patient_id="C1"), prevent_auto_commit=True)
    assert session.status == Status.RECEIVING
    with django_capture_on_commit_callbacks(execute=True):
        operations.rebuild_session(session, by=alice)
    archived = ImageSession.objects.get(label="C1")
    check_archived(archived)


def test_reset_status_undoes_an_interrupted_archive(ready, project_a, bob):
    session = ready(n_series=1, n_instances=1)
    change_status(session, Status.QUEUED_ARCHIVING)
    change_status(session, Status.ARCHIVING)
    operations.reset_status(session, by=bob)
    session.refresh_from_db()
    assert session.status == Status.READY
    assert AuditEvent.objects.get(action="prearchive.session.status_reset").details["previous"] == "ARCHIVING"
    check_archived(handoff.archive_session(session, by=bob).session)


# --- auto-archive (xnat-spec.md §4) ----------------------------------------------------------------


# --- an account's own Unassigned uploads (issue 14 item 1) ------------------------------------------
def test_an_uploader_acts_on_their_own_unassigned_session(project_a, project_d, alice, dave):
    """Dave's upload named alice's private A: it landed in his Unassigned. He may rebuild it and move it
    to his own project; alice (a stranger to it) may not touch it, nor may he move it into A."""
    session = ingest_study(make_study(1, 2, study_description="A"), source="import", user=dave)
    assert (session.project_id, session.uploaded_by) == (None, dave)
    with pytest.raises(NotFound):
        operations.delete_session(session, by=alice)
    operations.rebuild_session(session, by=dave)
    session.refresh_from_db()
    assert session.status == Status.READY
    with pytest.raises(XnatliteError, match="Unable to modify session data for destination project"):
        operations.move_session(session, "A", by=dave)
    moved = operations.move_session(session, "D", by=dave)
    assert moved.project == project_d and moved.folder.is_dir()
    assert AuditEvent.objects.filter(action="prearchive.session.moved", actor=dave).exists()


def test_an_uploader_deletes_their_own_unassigned_session(alice, dave):
    session = ingest_study(make_study(1, 1, study_description="NOWHERE"), source="import", user=dave)
    session = make_ready(session)
    folder = session.folder
    operations.delete_session(session, by=dave)
    assert not PrearchiveSession.objects.exists() and not folder.exists()
