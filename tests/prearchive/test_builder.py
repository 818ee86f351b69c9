"""The idle-timeout builder, scan IDs, the disk-to-rows rebuild and recovery (xnat-spec.md §3.4-3.5, §5.6)."""

import shutil
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from prearchive import builder
from prearchive.builder import rebuild_session_rows
from prearchive.models import PrearchiveFile, PrearchiveSession, Status, change_status
from prearchive.sweep import build_idle_sessions
from tests.dicomgen import make_instance, make_study
from tests.waiting import wait_for
from xnatlite import disk
from xnatlite.models import AuditEvent


def later(seconds=None):
    from django.conf import settings

    return timezone.now() + timedelta(
        seconds=(seconds if seconds is not None else settings.SESSION_IDLE_SECONDS + 1)
    )


def test_idle_sessions_become_ready_and_busy_ones_wait(db, ingest, project_a, settings):
    settings.SESSION_IDLE_SECONDS = 60
    idle = ingest(make_study(n_instances=2, study_description="A", patient_id="E1"))[0].session
    busy = ingest(make_study(n_instances=1, study_description="A", patient_id="E2"))[0].session
    PrearchiveSession.objects.filter(pk=idle.pk).update(last_modified=timezone.now() - timedelta(seconds=61))
    report = build_idle_sessions()
    idle.refresh_from_db()
    busy.refresh_from_db()
    assert report.ready == [idle.pk]
    assert (idle.status, idle.file_count, idle.scan_count) == (Status.READY, 2, 1)
    assert busy.status == Status.RECEIVING


def test_it_leaves_sessions_whose_client_commits(db, ingest, project_a, alice):
    held = ingest(make_study(n_instances=1), project="A", user=alice, prevent_auto_commit=True)[0].session
    uploader = ingest(make_study(n_instances=1, patient_id="E2"), project="A", user=alice, source="uploader")[
        0
    ]
    assert build_idle_sessions(now=later()).ready == []
    held.refresh_from_db()
    uploader.session.refresh_from_db()
    assert held.status == uploader.session.status == Status.RECEIVING


def test_series_sharing_a_number_get_xnat_scan_ids(db, ingest, project_a):
    study_uid = "1.2.826.0.1.3680043.8.498.1"
    datasets = [
        make_instance(
            study_instance_uid=study_uid,
            series_instance_uid=f"{study_uid}.{n}",
            series_number=number,
            instance_number=1,
            modality=modality,
            study_description="A",
        )
        for n, (number, modality) in enumerate([(4, "MR"), (4, "MR"), (4, "PT"), (5, "MR")])
    ]
    session = ingest(datasets, prevent_anon=True)[0].session
    build_idle_sessions(now=later())
    scan_ids = dict(PrearchiveFile.objects.values_list("series_instance_uid", "scan_id"))
    assert [scan_ids[f"{study_uid}.{n}"] for n in range(4)] == ["4-MR1", "4-MR2", "4-PT1", "5"]
    assert all(
        "/SCANS/4/DICOM/" in p
        for p in PrearchiveFile.objects.filter(scan_id__startswith="4-").values_list("path", flat=True)
    )
    session.refresh_from_db()
    assert (session.status, session.scan_count) == (Status.READY, 4)


def test_a_folder_holding_two_studies_ends_in_error_with_the_reason(db, ingest, project_a, tmp_path):
    session = ingest(make_study(n_instances=1, study_description="A"), prevent_anon=True)[0].session
    stray = ingest(make_study(n_instances=1, study_description="A", patient_id="X"), prevent_anon=True)[0]
    shutil.copy(stray.file.absolute_path, session.folder / "SCANS" / "1" / "DICOM" / "stray.dcm")
    report = build_idle_sessions(now=later())
    session.refresh_from_db()
    assert session.pk in report.errors
    assert session.status == Status.ERROR
    assert "more than one Study Instance UID" in session.status_reason
    assert session.file_count == 2  # the stray file was found on disk and is shown
    assert AuditEvent.objects.filter(action="prearchive.session.build_failed").count() == 1


def test_rebuild_matches_the_rows_to_the_disk(db, ingest, project_a):
    results = ingest(make_study(n_instances=3, study_description="A"), prevent_anon=True)
    session = results[0].session
    results[0].file.absolute_path.unlink()
    (session.folder / "SCANS" / "1" / "DICOM" / "notes.dcm").write_text("not DICOM")
    summary = rebuild_session_rows(session)
    assert summary["removed"] == 1 and summary["added"] == 0
    assert summary["unreadable"] == [
        f"prearchive/A/{session.timestamp}/{session.folder_name}/SCANS/1/DICOM/notes.dcm"
    ]
    session.refresh_from_db()
    assert (session.file_count, PrearchiveFile.objects.count()) == (2, 2)
    assert session.status == Status.RECEIVING  # rebuild never changes the status
    PrearchiveFile.objects.all().delete()
    assert rebuild_session_rows(session)["added"] == 2
    session.refresh_from_db()
    assert session.total_size == sum(PrearchiveFile.objects.values_list("size", flat=True)) > 0


def test_data_arriving_during_a_build_sends_the_session_back_to_receiving(db, ingest, project_a):
    study = make_study(n_instances=2, study_description="A")
    session = ingest(study[:1])[0].session
    assert change_status(session, Status.BUILDING)
    ingest(study[1:])  # -> RECEIVING_INTERRUPT
    report = builder.BuildReport()
    builder.build_session(session, report)
    session.refresh_from_db()
    assert report.interrupted == [session.pk] and report.ready == []
    assert (session.status, session.file_count) == (Status.RECEIVING, 2)


def test_sessions_left_building_by_a_dead_process_are_recovered(db, ingest, project_a):
    session = ingest(make_study(n_instances=1, study_description="A"))[0].session
    change_status(session, Status.BUILDING)
    assert build_idle_sessions(now=later(builder.STUCK_SECONDS - 5)).recovered == []  # too early to tell
    with disk.flock(disk.session_lock_path(session.pk)) as held:  # a live process building it
        assert held
        assert build_idle_sessions(now=later(builder.STUCK_SECONDS + 1)).recovered == []
    report = build_idle_sessions(now=later(builder.STUCK_SECONDS + 1))  # its process died
    assert report.recovered == [session.pk]  # RECEIVING again, idle from now on
    report = build_idle_sessions(now=later(builder.STUCK_SECONDS + settings.SESSION_IDLE_SECONDS + 2))
    session.refresh_from_db()
    assert report.ready == [session.pk]
    assert session.status == Status.READY


def test_a_session_without_files_is_removed(db, project_a):
    session = PrearchiveSession.objects.create(
        project=project_a,
        timestamp="20240102_101500123",
        folder_name="E1",
        label="E1",
        status=Status.RECEIVING,
    )
    session.folder.mkdir(parents=True)
    report = build_idle_sessions(now=later())
    assert report.removed == [session.pk]
    assert not PrearchiveSession.objects.exists()
    assert not session.folder.exists()


def test_the_command_and_the_task_build_idle_sessions(db, ingest, project_a, settings, capsys):
    from prearchive.tasks import build_idle_sessions as task

    settings.SESSION_IDLE_SECONDS = 0
    first = ingest(make_study(n_instances=1, study_description="A", patient_id="E1"))[0].session
    call_command("build_idle_sessions")
    assert "ready 1" in capsys.readouterr().out
    second = ingest(make_study(n_instances=1, study_description="A", patient_id="E2"))[0].session
    task.delay()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == Status.READY


@pytest.fixture
def no_idle_time(child_env, settings):
    """Sessions are idle at once, here and in the worker process."""
    settings.SESSION_IDLE_SECONDS = 0
    child_env["XNATLITE_SESSION_IDLE_SECONDS"] = "0"


def test_the_task_runs_on_a_real_worker(no_idle_time, celery_worker, ingest, project_a):
    """With a broker (PostgreSQL + Redis), a Celery worker process builds the session; without one
    the task runs in-process, as in the embedded default."""
    from prearchive.tasks import build_idle_sessions as task

    session = ingest(make_study(n_instances=2, study_description="A"))[0].session
    task.delay()
    wait_for(
        lambda: PrearchiveSession.objects.get(pk=session.pk).status == Status.READY,
        what="the worker to build the session",
        poll=0.1,
        process=celery_worker,
    )
    session.refresh_from_db()
    assert (session.file_count, session.scan_count) == (2, 1)
