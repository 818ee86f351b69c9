"""The receiver and the idle-session builder as real processes: `manage.py dicom_receiver` (several
processes sharing a port), `manage.py build_idle_sessions --loop`, and `manage.py serve` running both."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from prearchive.models import PrearchiveFile, PrearchiveSession, Status
from tests.dicom_receiver.conftest import free_port
from tests.dicomgen import echo, make_study, send_datasets
from tests.e2e.conftest import ROOT, start_serve

pytestmark = pytest.mark.e2e


def start(args: list[str], env: dict, log_path) -> subprocess.Popen:
    out = open(log_path, "w")  # noqa: SIM115 - the child writes to it for its whole life
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )


def wait_for(predicate, timeout: float, what: str, log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{log_path.read_text()}" if log_path else ""))


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


def test_receiver_processes_and_the_builder_command(transactional_db, child_env, project_a, tmp_path):
    port = free_port()
    env = {**child_env, "XNATLITE_DICOM_PORT": str(port), "XNATLITE_SESSION_IDLE_SECONDS": "1"}
    receiver_log = tmp_path / "receiver.log"
    receiver = start(["dicom_receiver", "--processes", "2", "--host", "127.0.0.1"], env, receiver_log)
    try:
        wait_for(
            lambda: receiver_log.read_text().count("listening on") == 2, 60, "two receivers", receiver_log
        )
        assert echo(port) == 0
        study = make_study(n_series=2, n_instances=10, study_description="A")
        results = {}
        senders = [
            threading.Thread(target=lambda i=i: results.setdefault(i, send_datasets(port, study[i::2])))
            for i in range(2)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(60)
        assert results == {0: [0] * 10, 1: [0] * 10}
        session = PrearchiveSession.objects.get()
        assert (session.status, session.file_count, PrearchiveFile.objects.count()) == (
            Status.RECEIVING,
            20,
            20,
        )

        builder_log = tmp_path / "builder.log"
        builder = start(["build_idle_sessions", "--loop", "--interval", "0.2"], env, builder_log)
        try:
            wait_for(lambda: PrearchiveSession.objects.get().status == Status.READY, 30, "READY", builder_log)
        finally:
            assert stop(builder) == 0
        session.refresh_from_db()
        assert (session.file_count, session.scan_count) == (20, 2)
    finally:
        assert stop(receiver) == 0
    log = receiver_log.read_text()
    assert "association TESTSCU@127.0.0.1 -> XNATLITE released: 10 instances" in log


def test_serve_runs_the_receiver_and_the_builder(transactional_db, child_env, project_a, tmp_path):
    port = free_port()
    env = {
        **child_env,
        "XNATLITE_DICOM_PORT": str(port),
        "XNATLITE_DICOM_HOST": "127.0.0.1",
        "XNATLITE_SESSION_IDLE_SECONDS": "1",
        "XNATLITE_SESSION_CHECK_SECONDS": "1",
    }
    server = start_serve(tmp_path, "--no-migrate", env=env)
    try:
        wait_for(lambda: echo(port) == 0, 30, "the receiver in serve", server.log)
        assert send_datasets(port, make_study(n_instances=3, study_description="A")) == [0, 0, 0]
        assert PrearchiveSession.objects.get().status == Status.RECEIVING
        wait_for(lambda: PrearchiveSession.objects.get().status == Status.READY, 30, "READY", server.log)
    finally:
        assert server.stop() == 0
