"""Handing prearchive sessions to archiving (prearchive/handoff.py): who may validate and queue (xnat-spec.md
§2.4), auto-archive by project code and `AA:`, what a failed archive leaves."""

import pytest
from django.conf import settings

from anonymize import services as anonymize_services
from archive.models import ImageSession
from prearchive import handoff, operations
from prearchive.handoff import should_auto_archive
from prearchive.models import AutoArchive, PrearchiveSession, Status, change_status
from prearchive.sweep import build_idle_sessions
from tests.dicomgen import make_study
from tests.sessions import check_archived, ingest_study, make_ready
from xnatlite import projects
from xnatlite.errors import Forbidden, InvalidInput, NotFound, XnatliteError
from xnatlite.models import AuditEvent, PrearchiveCode

# Owners and members use a project's prearchive; collaborators get Forbidden (they may read the
# project), strangers NotFound (they may not know it exists), site admins everything.
ROLES = [("alice", None), ("bob", None), ("carol", Forbidden), ("dave", NotFound), ("root", None)]


def _call(operation, session, user):
    if operation == "validate":
        return handoff.validate_archive(session, by=user)
    return handoff.queue_archive(session, by=user)


@pytest.mark.parametrize("operation", ["validate", "request"])
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
    for operation in ("validate", "request"):
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


@pytest.mark.parametrize(
    "project, mode, expected",
    [
        (True, AutoArchive.MANUAL, (False, "none")),
        (True, AutoArchive.AUTO_ARCHIVE, (True, "append")),
        (True, AutoArchive.AUTO_ARCHIVE_OVERWRITE, (True, "delete")),
        (False, AutoArchive.AUTO_ARCHIVE, (False, "none")),
    ],
)
def test_should_auto_archive(db, project_a, project, mode, expected):
    session = PrearchiveSession(project=project_a if project else None, auto_archive=mode)
    assert should_auto_archive(session) == expected


def test_a_session_whose_archive_task_was_lost_is_queued_again_by_the_sweep(
    ready, project_a, bob, django_capture_on_commit_callbacks
):
    """Issue 16: a broker restarted without its queue left sessions QUEUED_ARCHIVING forever. The
    row keeps what was asked; past settings.LOST_TASK_SECONDS the sweep queues the task again."""
    from datetime import timedelta

    from django.utils import timezone

    session = ready(n_series=1, n_instances=2)
    with django_capture_on_commit_callbacks(execute=False):  # the task's message: lost
        handoff.queue_archive(session, by=bob, subject="LOST1", label="LOST1_MR")
    session.refresh_from_db()
    assert session.status == Status.QUEUED_ARCHIVING
    assert session.archive_request == {
        "request": {
            "project": "",
            "subject": "LOST1",
            "label": "LOST1_MR",
            "overwrite": "none",
            "overwrite_files": False,
            "confirm_identifiers": False,
        },
        "actor": bob.pk,
    }
    assert handoff.recover_stuck_archives(timezone.now()) == []  # not yet: the task may be on its way
    later = timezone.now() + timedelta(seconds=settings.LOST_TASK_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert handoff.recover_stuck_archives(later) == [session.pk]
    archived = ImageSession.objects.get(label="LOST1_MR")
    assert archived.subject.label == "LOST1"
    check_archived(archived)
    event = AuditEvent.objects.get(action="archive.session.archived")
    assert event.actor == bob


def test_a_queued_session_without_a_kept_request_goes_back_to_ready(ready, project_a):
    """Rows queued by a version that did not keep the request cannot be sent again: READY, for a person."""
    from datetime import timedelta

    from django.utils import timezone

    session = ready(n_series=1, n_instances=1)
    change_status(session, Status.QUEUED_ARCHIVING)
    later = timezone.now() + timedelta(seconds=settings.LOST_TASK_SECONDS + 1)
    assert handoff.recover_stuck_archives(later) == [session.pk]
    session.refresh_from_db()
    assert session.status == Status.READY


# --- the identity policy (archiving/identity.py) -----------------------------------------------------
def test_queue_archive_refuses_flagged_labels_and_changes_nothing(ready, project_a, bob):
    from xnatlite.errors import UnconfirmedIdentifiers

    session = ready(n_series=1, n_instances=1, patient_name="LOE^LISA", patient_id="MRN0044444")
    assert (session.subject_label, session.label) == ("LOE_LISA", "MRN0044444")  # routed from the headers
    before = AuditEvent.objects.count()
    with pytest.raises(UnconfirmedIdentifiers):
        handoff.queue_archive(session, by=bob)
    with pytest.raises(UnconfirmedIdentifiers):
        handoff.queue_archive(session, by=bob, subject="SUBJ1")  # the session label still is an MRN
    session.refresh_from_db()
    assert session.status == Status.READY and session.archive_request is None
    assert AuditEvent.objects.count() == before


def test_the_archive_service_itself_refuses_an_unconfirmed_request(ready, project_a, bob):
    """A request that reaches archiving without passing `_queue` (one a sweep replays from a journal
    written before the policy) stops at validation, code 30, and the row says why."""
    from archiving import ArchiveRequest

    session = ready(n_series=1, n_instances=1, patient_name="LOE^LISA", patient_id="P1")
    change_status(session, Status.QUEUED_ARCHIVING)
    outcome = handoff.archive_queued(session.pk, actor=bob, request=ArchiveRequest())
    assert outcome.status == "conflict"
    session.refresh_from_db()
    assert session.status == Status.CONFLICT and session.status_reason.startswith("[30] The subject label")
    assert not ImageSession.objects.exists()


def test_auto_archive_leaves_flagged_labels_in_error_with_the_reason(built, project_a, alice):
    projects.update_project(project_a, by=alice, prearchive_code=PrearchiveCode.AUTO_ARCHIVE)
    session = built(make_study(1, 2, study_description="A", patient_name="P^Q", patient_id="12345678"))
    session.refresh_from_db()
    assert session.status == Status.ERROR
    assert session.status_reason.startswith(
        "Not auto-archived: the session label '12345678' looks like a medical record number"
    )
    assert not ImageSession.objects.exists()
    assert AuditEvent.objects.filter(action="prearchive.session.auto_archive_refused").count() == 1


def test_the_sweep_auto_archives_in_its_own_process_without_a_broker(transactional_db, project_a):
    """The embedded mode: the sweep makes the session READY and queues its archive in one transaction,
    whose task runs in this process at commit and takes the session's lock, which the build must have
    let go by then (it did not, once: the archive was skipped as 'being archived by another process')."""
    from datetime import timedelta

    from django.utils import timezone

    project_a.prearchive_code = PrearchiveCode.AUTO_ARCHIVE
    project_a.save()
    ingest_study(make_study(n_instances=2, study_description="A"))
    report = build_idle_sessions(now=timezone.now() + timedelta(seconds=settings.SESSION_IDLE_SECONDS + 1))
    assert len(report.ready) == 1
    assert ImageSession.objects.count() == 1 and not PrearchiveSession.objects.exists()
