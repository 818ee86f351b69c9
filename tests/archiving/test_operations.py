"""The user-facing prearchive operations: who may do each (xnat-spec.md §2.4), what each does to the
rows and the folders, and the audit record it leaves."""

import pytest

from anonymize import services as anonymize_services
from archive.models import ImageSession
from prearchive import handoff, operations
from prearchive.models import AutoArchive, PrearchiveSession, Status, change_status
from prearchive.sweep import build_idle_sessions
from tests.archiving.conftest import check_archived, ingest_study, make_ready
from tests.dicomgen import make_study
from xnatlite import projects
from xnatlite.errors import Forbidden, InvalidInput, InvalidStatus, NotFound, XnatliteError
from xnatlite.models import AuditEvent, PrearchiveCode

# Owners and members use a project's prearchive; collaborators get Forbidden (they may read the
# project), strangers NotFound (they may not know it exists), site admins everything.
ROLES = [("alice", None), ("bob", None), ("carol", Forbidden), ("dave", NotFound), ("root", None)]


def _call(operation, session, user):
    if operation == "validate":
        return handoff.validate_archive(session, by=user)
    if operation == "request":
        return handoff.queue_archive(session, by=user)
    if operation == "delete":
        return operations.delete_session(session, by=user)
    if operation == "move":
        return operations.move_session(session, "D", by=user)
    if operation == "rebuild":
        return operations.rebuild_session(session, by=user)
    return operations.reset_status(session, by=user)


@pytest.mark.parametrize("operation", ["validate", "request", "delete", "rebuild", "reset"])
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
    if operation != "validate":
        assert AuditEvent.objects.count() > before


@pytest.mark.parametrize("username", ["alice", "bob", "carol", "dave"])
def test_unassigned_sessions_are_for_site_admins_only(db, cast, username):
    session = make_ready(ingest_study(make_study(1, 1, patient_id="U1")))
    assert session.project_id is None
    for operation in ("validate", "request", "delete", "move", "rebuild", "reset"):
        with pytest.raises(NotFound):
            _call(operation, session, cast[username])
    session.refresh_from_db()
    assert session.status == Status.READY and session.folder.is_dir()


def test_archiving_from_unassigned_is_refused_even_for_admins(db, cast):
    session = make_ready(ingest_study(make_study(1, 1, patient_id="U1")))
    root = cast["root"]
    assert [(r.code, r.kind) for r in handoff.validate_archive(session, by=root)] == [(6, "fail")]
    with pytest.raises(InvalidInput, match="Cannot archive sessions from the Unassigned folder."):
        handoff.archive_session(session, by=root, project="A")
    moved = operations.move_session(session, "A", by=root)
    assert moved.project_id == "A" and moved.status == Status.READY
    assert moved.folder.is_dir() and moved.files.count() == 1
    assert all(f.absolute_path.is_file() for f in moved.files.all())
    archived = handoff.archive_session(moved, by=cast["bob"]).session
    check_archived(archived)


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
@pytest.fixture
def built(django_capture_on_commit_callbacks):
    """built(datasets, **context): ingest, then run the idle builder as if the timeout had passed;
    tasks scheduled on commit (the auto-archive) run as they do outside a test transaction."""
    from datetime import timedelta

    from django.utils import timezone

    def run(datasets, **context):
        session = ingest_study(datasets, **context)
        with django_capture_on_commit_callbacks(execute=True):
            build_idle_sessions(now=timezone.now() + timedelta(days=1))
        return session

    return run


def test_project_code_4_archives_and_never_overwrites(built, project_a, alice):

    projects.update_project(project_a, by=alice, prearchive_code=PrearchiveCode.AUTO_ARCHIVE)
    datasets = make_study(1, 2, study_description="A", patient_id="AUTO1")
    built(datasets)
    archived = ImageSession.objects.get(label="AUTO1")
    check_archived(archived)
    assert AuditEvent.objects.get(action="archive.session.archived").actor_name == "system:auto-archive"
    again = built(datasets[:1])  # the same instance again: a collision, so CONFLICT
    again.refresh_from_db()
    assert again.status == Status.CONFLICT and "[15]" in again.status_reason


def test_project_code_5_overwrites(built, project_a, alice):

    projects.update_project(project_a, by=alice, prearchive_code=PrearchiveCode.AUTO_ARCHIVE_OVERWRITE)
    datasets = make_study(1, 2, study_description="A", patient_id="AUTO2")
    built(datasets)
    again = built(datasets[:1])
    assert not PrearchiveSession.objects.filter(pk=again.pk).exists()
    assert len(check_archived(ImageSession.objects.get(label="AUTO2"))["1"]) == 2


def test_the_aa_flag_archives_and_unassigned_never(built, project_a):
    flagged = built(make_study(1, 1, study_description="A", patient_id="AA1", patient_comments="AA:true"))
    assert flagged.auto_archive == AutoArchive.AUTO_ARCHIVE
    assert ImageSession.objects.filter(label="AA1").exists()
    unassigned = built(make_study(1, 1, patient_id="U2", patient_comments="AA:true"))
    unassigned.refresh_from_db()
    assert (unassigned.project_id, unassigned.status) == (None, Status.READY)


def test_a_project_script_error_leaves_the_session_in_error(ready, project_a, alice):
    anonymize_services.save_project_script(
        project_a, 'version "6.3"\n(0010,0010) := nobody_set_this\n', enabled=True, by=alice
    )
    session = ready(n_series=1, n_instances=1)
    with pytest.raises(XnatliteError):
        handoff.archive_session(session, by=alice)
    session.refresh_from_db()
    assert session.status == Status.ERROR and session.status_reason
    assert not ImageSession.objects.exists() and session.folder.is_dir()
