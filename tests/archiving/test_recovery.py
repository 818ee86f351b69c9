"""Nothing is lost when archiving dies: a real process archiving a session is killed with SIGKILL at
several moments, and after each kill either the prearchive session is intact and archivable again,
or the archive is complete; rows never point at missing files (archiving/service.py).

Embedded mode (SQLite, no broker): `manage.py archive_prearchive_session` in a child process.
PostgreSQL + Redis: the Celery worker's pool process is killed mid-archive and the task, delivered
again, is finished by the pool process that replaces it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from archive.models import File, ImageSession
from archive.services.subjects import create_subject
from archiving import journals
from prearchive import handoff
from prearchive.handoff import reset_interrupted
from prearchive.models import PrearchiveFile, PrearchiveSession, Status, change_status
from tests.factories import TESTS
from tests.sessions import check_archived, md5
from tests.waiting import TIMEOUT, wait_for
from xnatlite import disk, layout

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def big_session(ready, n_series=4, n_instances=40):
    return ready(n_series=n_series, n_instances=n_instances, rows=64, cols=64, patient_id="BIG1")


def prearchive_state(session: PrearchiveSession) -> dict[str, str]:
    return {f.path: f.md5 for f in PrearchiveFile.objects.filter(session=session)}


def assert_intact_or_complete(session_pk: int, original: dict[str, str], label: str) -> str:
    """The invariant, checked right after a kill and again after recovery; returns which side holds."""
    for file in File.objects.all():  # never a row without its file
        assert file.absolute_path.is_file(), f"row without file: {file.path}"
    session = PrearchiveSession.objects.filter(pk=session_pk).first()
    if session is not None:  # not committed: the prearchive copy is whole
        for path, digest in original.items():
            assert md5(layout.absolute_path(path)) == digest, f"prearchive file changed: {path}"
        assert not ImageSession.objects.filter(label=label).exists()
        assert reset_interrupted(session)
        session.refresh_from_db()
        assert session.status == Status.READY
        assert not layout.archive_session_dir("A", label).exists(), "files without rows after recovery"
        assert not list(layout.archive_session_dir("A", label).parent.glob(".build-*"))
        return "prearchive"
    archived = ImageSession.objects.get(label=label)
    journal = journals.read(session_pk)
    if journal is not None:  # the clean-up after the commit was cut short: recovery finishes it
        from archiving.recovery import recover_journal

        recover_journal(session_pk, journal, row_exists=False)
    check_archived(archived)
    assert sum(len(v) for v in check_archived(archived).values()) == len(original)
    for path in original:
        assert not layout.absolute_path(path).exists()
    return "archive"


def run_child(child_env, session_pk: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "archive_prearchive_session", str(session_pk)],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for_status(session_pk: int, statuses, proc: subprocess.Popen) -> None:
    """Until the prearchive session has one of `statuses`, is gone, or the child has exited."""

    def reached() -> bool:
        exited = proc.poll() is not None
        row = PrearchiveSession.objects.filter(pk=session_pk).values_list("status", flat=True).first()
        return exited or row is None or row in statuses

    wait_for(reached, what=f"status {statuses}", poll=0.005)


def sleeping_in_sqlite_busy_wait(proc: subprocess.Popen) -> bool:
    """Whether the child's main thread sleeps in nanosleep: SQLite waiting for the write lock (its busy
    handler sleeps and tries again), once the archiving has nothing left to do but commit."""
    return "nanosleep" in Path(f"/proc/{proc.pid}/wchan").read_text()


def waiting_for_a_postgresql_lock() -> bool:
    """Whether a connection to this test database waits for a lock (the child, on the locked table)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_sigkill_of_an_archiving_process_at_several_moments(transactional_db, ready, project_a, child_env):
    session = big_session(ready)
    original = prearchive_state(session)
    outcomes = []
    for delay in (0.0, 0.05, 0.15, 0.3, 0.5, 0.8):
        if not PrearchiveSession.objects.filter(pk=session.pk).exists():
            break
        proc = run_child(child_env, session.pk)
        wait_for_status(session.pk, {Status.ARCHIVING}, proc)
        # Not a wait for anything: the kill lands at a different moment of the archiving each time,
        # wherever that happens to be (the moments themselves are what this test varies).
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(TIMEOUT)
        outcomes.append(assert_intact_or_complete(session.pk, original, "BIG1"))
    if PrearchiveSession.objects.filter(pk=session.pk).exists():
        proc = run_child(child_env, session.pk)
        output = proc.communicate(timeout=TIMEOUT)[0].decode()
        assert proc.returncode == 0, output
        outcomes.append(assert_intact_or_complete(session.pk, original, "BIG1"))
    assert outcomes[-1] == "archive"
    assert "prearchive" in outcomes, "no kill landed before the commit"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="holds SQLite's write lock")
def test_sigkill_with_the_build_complete_and_the_commit_waiting(
    transactional_db, ready, project_a, child_env
):
    """The child builds the whole session beside its place, then waits for the database (held by the
    test) to commit: killed there, nothing of it may reach the archive."""
    session = big_session(ready, n_series=2, n_instances=10)
    original = prearchive_state(session)
    change_status(session, Status.QUEUED_ARCHIVING)
    blocker = sqlite3.connect(connection.settings_dict["NAME"], timeout=30)
    proc = run_child(child_env, session.pk)
    try:
        wait_for_status(session.pk, {Status.ARCHIVING}, proc)
        blocker.execute("BEGIN IMMEDIATE")  # the commit transaction cannot start now
        wait_for(
            lambda: "catalogs" in (journals.read(session.pk) or {}), what="the build to finish", process=proc
        )
        wait_for(lambda: sleeping_in_sqlite_busy_wait(proc), what="the commit to wait", process=proc)
        build = Path(journals.read(session.pk)["build"])
        assert len(list(build.rglob("*.dcm"))) == len(original)
        proc.send_signal(signal.SIGKILL)
        proc.wait(TIMEOUT)
    finally:
        blocker.rollback()
        blocker.close()
    assert assert_intact_or_complete(session.pk, original, "BIG1") == "prearchive"
    assert not build.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="locks one PostgreSQL table")
def test_sigkill_between_the_rename_and_the_commit(transactional_db, ready, project_a, child_env):
    """The only moment files exist without rows: the new folder is in place, the transaction not yet
    committed (the test holds the audit table the last statement writes to). Recovery must put the
    folder back and leave the prearchive session whole."""
    import psycopg

    create_subject(project_a, "SUBJ_001", by=TESTS)  # no subject audit row before the rename
    session = big_session(ready, n_series=2, n_instances=10)
    original = prearchive_state(session)
    change_status(session, Status.QUEUED_ARCHIVING)
    db = connection.settings_dict
    blocker = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    )
    blocker.execute("BEGIN")
    blocker.execute("LOCK TABLE archive_auditevent IN ACCESS EXCLUSIVE MODE")
    proc = run_child(child_env, session.pk)
    final = layout.archive_session_dir("A", "BIG1")
    try:
        wait_for(final.exists, what="the folder to appear", process=proc)
        wait_for(waiting_for_a_postgresql_lock, what="the commit to wait for the audit table", process=proc)
        assert len(list(final.rglob("*.dcm"))) == len(original)
        assert not ImageSession.objects.filter(label="BIG1").exists()  # files without rows, for now
        proc.send_signal(signal.SIGKILL)
        proc.wait(TIMEOUT)
    finally:
        blocker.rollback()
        blocker.close()
    assert assert_intact_or_complete(session.pk, original, "BIG1") == "prearchive"
    proc = run_child(child_env, session.pk)
    assert proc.wait(TIMEOUT) == 0
    assert assert_intact_or_complete(session.pk, original, "BIG1") == "archive"


def pool_processes(worker: subprocess.Popen) -> list[int]:
    path = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def test_sigkill_of_the_celery_worker_process_mid_archive(celery_worker, ready, project_a, bob):
    if celery_worker is None:
        pytest.skip("needs a broker (CELERY_BROKER_URL): the embedded mode has no worker")
    session = big_session(ready, n_series=3, n_instances=60)
    original = prearchive_state(session)
    arc = layout.archive_project_dir("A") / layout.ARCHIVE_ARC
    handoff.queue_archive(session, by=bob)
    wait_for(
        lambda: (
            PrearchiveSession.objects.filter(pk=session.pk, status=Status.ARCHIVING).exists()
            and list(arc.glob(".build-*/SCANS/*/DICOM/*.dcm"))
        ),
        what="the worker to be building the session",
        poll=0.005,
        process=celery_worker,
        log=celery_worker.log,
    )
    killed = pool_processes(celery_worker)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: not PrearchiveSession.objects.filter(pk=session.pk).exists(),
        what="the task delivered again to archive the session",
        poll=0.1,
        process=celery_worker,
        log=celery_worker.log,
    )
    assert set(pool_processes(celery_worker)).isdisjoint(killed)
    assert assert_intact_or_complete(session.pk, original, "BIG1") == "archive"
    assert "WorkerLostError" in celery_worker.log.read_text() or "SIGKILL" in celery_worker.log.read_text()


def test_a_task_delivered_twice_archives_once(transactional_db, ready, project_a, bob):
    from prearchive import tasks

    session = ready(n_series=1, n_instances=2, patient_id="TWICE")
    change_status(session, Status.QUEUED_ARCHIVING)
    with disk.flock(disk.session_lock_path(session.pk)) as held:  # a first delivery is working on it
        assert held
        tasks.archive_prearchive_session.apply(args=(session.pk, bob.pk, {}))
        session.refresh_from_db()
        assert session.status == Status.QUEUED_ARCHIVING
    tasks.archive_prearchive_session.apply(args=(session.pk, bob.pk, {}))
    tasks.archive_prearchive_session.apply(args=(session.pk, bob.pk, {}))  # late duplicate: row gone
    archived = ImageSession.objects.get(label="TWICE")
    assert len(check_archived(archived)["1"]) == 2
    assert ImageSession.objects.count() == 1
