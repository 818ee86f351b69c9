"""The receiver and the idle-session builder as real processes: `manage.py dicom_receiver` (several
processes sharing a port), `manage.py build_idle_sessions --loop`, and `manage.py serve` running both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dicom_receiver.models import QuarantinedInstance
from prearchive import intake
from prearchive.models import PrearchiveFile, PrearchiveSession, Status
from tests.dicomgen import echo, make_study, send_datasets
from tests.e2e.conftest import ROOT, start_serve, start_serve_receiving
from tests.ports import reserved_port
from tests.waiting import TIMEOUT, wait_for

pytestmark = pytest.mark.e2e


def start(args: list[str], env: dict, log_path) -> subprocess.Popen:
    out = open(log_path, "w")  # noqa: SIM115 - the child writes to it for its whole life
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )


def send_on_two_associations(port: int, study: list) -> dict[int, list[int]]:
    """Every other instance on each of two associations at once: {association: statuses}."""
    results = {}
    senders = [
        threading.Thread(target=lambda i=i: results.setdefault(i, send_datasets(port, study[i::2])))
        for i in range(2)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(TIMEOUT)
    return results


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(TIMEOUT)


def test_receiver_processes_and_the_builder_command(transactional_db, child_env, project_a, tmp_path):
    """Two receiver processes share the port (SO_REUSEPORT), reserved here while they run."""
    with reserved_port() as port:
        env = {**child_env, "XNATLITE_DICOM_PORT": str(port), "XNATLITE_SESSION_IDLE_SECONDS": "1"}
        receiver_log = tmp_path / "receiver.log"
        receiver = start(
            ["dicom_receiver", "--processes", "2", "--workers", "2", "--host", "127.0.0.1"], env, receiver_log
        )
        try:
            wait_for(
                lambda: receiver_log.read_text().count(f"listening on 127.0.0.1 ports {port} ") == 2,
                what="two receivers on the port",
                process=receiver,
                log=receiver_log,
            )
            assert echo(port) == 0
            study = make_study(n_series=2, n_instances=10, study_description="A")
            assert send_on_two_associations(port, study) == {0: [0] * 10, 1: [0] * 10}
            assert intake.wait_until_processed(time.time(), TIMEOUT), receiver_log.read_text()
            session = PrearchiveSession.objects.get()
            assert (session.status, session.file_count, PrearchiveFile.objects.count()) == (
                Status.RECEIVING,
                20,
                20,
            )

            builder_log = tmp_path / "builder.log"
            builder = start(["build_idle_sessions", "--loop", "--interval", "0.2"], env, builder_log)
            try:
                wait_for(
                    lambda: PrearchiveSession.objects.get().status == Status.READY,
                    what="READY",
                    poll=0.1,
                    process=builder,
                    log=builder_log,
                )
            finally:
                assert stop(builder) == 0
            session.refresh_from_db()
            assert (session.file_count, session.scan_count) == (20, 2)
        finally:
            assert stop(receiver) == 0
    log = receiver_log.read_text()
    assert "association TESTSCU@127.0.0.1 -> XNATLITE released: 10 instances" in log


def test_serve_runs_the_receiver_and_the_builder(transactional_db, child_env, project_a, tmp_path):
    """serve runs the receivers in a thread and the spool workers as its children, which end with it,
    even when it is killed outright."""
    env = {
        **child_env,
        "XNATLITE_DICOM_HOST": "127.0.0.1",
        "XNATLITE_SESSION_IDLE_SECONDS": "1",
        "XNATLITE_SESSION_CHECK_SECONDS": "1",
        "XNATLITE_RECEIVER_WORKERS": "2",
        "XNATLITE_LOG_LEVEL": "INFO",  # start_serve_receiving reads whether the receiver could listen
    }
    server, port = start_serve_receiving(tmp_path, env)
    try:
        assert echo(port) == 0
        workers = wait_for(
            lambda: workers_of(server.proc.pid, 2),
            what="two spool workers",
            process=server.proc,
            log=server.log,
        )
        assert send_datasets(port, make_study(n_instances=3, study_description="A")) == [0, 0, 0]
        wait_for(
            lambda: PrearchiveFile.objects.count() == 3,
            what="the spool workers",
            poll=0.1,
            process=server.proc,
            log=server.log,
        )
        assert PrearchiveSession.objects.get().status == Status.RECEIVING
        wait_for(
            lambda: PrearchiveSession.objects.get().status == Status.READY,
            what="READY",
            poll=0.1,
            process=server.proc,
            log=server.log,
        )
    finally:
        assert server.stop() == 0
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]

    server = start_serve(tmp_path, "--no-migrate", env={**env, "XNATLITE_DICOM_PORT": str(port)})
    try:
        workers = wait_for(
            lambda: workers_of(server.proc.pid, 2),
            what="two spool workers",
            process=server.proc,
            log=server.log,
        )
    finally:
        server.proc.kill()  # SIGKILL: serve cannot stop its workers; they notice and stop
        server.proc.wait(TIMEOUT)
    # They look for their parent between batches, but only once they are up: on a loaded machine
    # importing Django and warming up can take them well over ten seconds.
    wait_for(
        lambda: not [pid for pid in workers if _alive(pid)], what="the orphaned workers to stop", poll=0.1
    )


def batch_under_way() -> bool:
    """A spool worker's journal names files its batch wrote, not yet recorded."""
    return any(journal.stat().st_size for journal in intake.spool_root().glob("work/*/journal"))


def workers_of(pid: int, count: int, besides=()) -> list[int] | None:
    """The spool worker children of `pid` once there are `count` of them (none of `besides`)."""
    found = children(pid, "worker")
    return found if len(found) == count and not set(found) & set(besides) else None


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children(pid: int, role: str) -> list[int]:
    """The child processes of `pid` running `dicom_receiver --role {role}`."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if b"--role" in command and role.encode() in command:
                found.append(int(child))
    return found


def test_spool_workers_killed_mid_batch_lose_nothing_and_store_nothing_twice(
    transactional_db, child_env, project_a, root, tmp_path
):
    """SIGKILL the processing twice in the middle of its batches. The site script gives every instance
    a new UID (a new file name each time it runs), so an instance processed twice would show up twice."""
    from anonymize import services as anonymize_services

    anonymize_services.save_site_script('version "6.3"\n(0008,0018) := newUID[]\n', enabled=True, by=root)
    log_path = tmp_path / "receiver.log"
    with reserved_port() as port:  # the receiver child shares it (SO_REUSEPORT) while it runs
        env = {**child_env, "XNATLITE_DICOM_PORT": str(port)}
        command = ["dicom_receiver", "--processes", "1", "--workers", "2", "--host", "127.0.0.1"]
        receiver = start(command, env, log_path)
        try:
            wait_for(
                lambda: f"listening on 127.0.0.1 ports {port} " in log_path.read_text(),
                what="the receiver",
                process=receiver,
                log=log_path,
            )
            workers = wait_for(
                lambda: workers_of(receiver.pid, 2), what="two workers", process=receiver, log=log_path
            )
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)  # a backlog builds up while they are stopped
            study = make_study(n_series=3, n_instances=60, rows=64, cols=64, study_description="A")
            assert send_on_two_associations(port, study) == {0: [0] * 90, 1: [0] * 90}  # all acknowledged
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
            for _ in range(2):
                # kill the workers while a batch has written files it has not recorded yet
                wait_for(
                    batch_under_way, what="a batch under way", poll=0.002, process=receiver, log=log_path
                )
                for pid in workers:
                    os.kill(pid, signal.SIGKILL)
                workers = wait_for(
                    lambda old=workers: workers_of(receiver.pid, 2, besides=old),
                    what="the workers restarted",
                    process=receiver,
                    log=log_path,
                )
            assert intake.wait_until_processed(time.time(), TIMEOUT), log_path.read_text()
        finally:
            assert stop(receiver) == 0
    assert "queued" in log_path.read_text()  # the dead workers' batches were taken over
    session = PrearchiveSession.objects.get()
    rows = list(PrearchiveFile.objects.all())
    on_disk = sorted(p for p in session.folder.rglob("*") if p.is_file())
    assert sorted(r.absolute_path for r in rows) == on_disk  # every file has its row and no more
    assert (session.file_count, len(rows)) == (180, 180)
    sent = sorted((ds.SeriesInstanceUID, ds.InstanceNumber) for ds in study)
    assert sorted((r.series_instance_uid, r.instance_number) for r in rows) == sent  # each exactly once
    assert not [p for p in intake.spool_root().rglob("*.dcm")]
    assert not QuarantinedInstance.objects.exists()


def test_the_children_of_a_killed_receiver_end_with_it_and_a_second_set_may_not_share_the_port(
    transactional_db, child_env, project_a, tmp_path
):
    """Issue 16: kill -9 of `manage.py dicom_receiver` left its receiver and worker children serving,
    and a restart ran a second set on the same port. Now the children end with their parent, and a
    second set refuses a port another one serves on this host (until that one is gone)."""
    with reserved_port() as port:
        env = {**child_env, "XNATLITE_DICOM_PORT": str(port)}
        first_log, second_log, third_log = (tmp_path / f"{n}.log" for n in ("first", "second", "third"))
        args = ["dicom_receiver", "--processes", "2", "--workers", "1", "--host", "127.0.0.1"]
        first = start(args, env, first_log)
        try:
            wait_for(
                lambda: first_log.read_text().count(f"ports {port} ") == 2,
                what="the first set's receivers",
                process=first,
                log=first_log,
            )
            kids = children(first.pid, "receiver") + children(first.pid, "worker")
            assert len(kids) == 3

            second = start(args, env, second_log)
            assert second.wait(TIMEOUT) != 0
            assert (
                f"Port {port} is served by another xnatlite receiver on this host" in second_log.read_text()
            )
            assert echo(port) == 0  # the first set still serves

            first.kill()  # SIGKILL: no chance to stop its children itself
            first.wait(TIMEOUT)
            wait_for(lambda: not any(_alive(pid) for pid in kids), what="the orphaned children to end")

            third = start(args, env, third_log)
            wait_for(
                lambda: third_log.read_text().count(f"ports {port} ") == 2,
                what="a new set on the freed port",
                process=third,
                log=third_log,
            )
            assert echo(port) == 0
            assert stop(third) == 0
        finally:
            if first.poll() is None:
                stop(first)
