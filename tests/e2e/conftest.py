"""Helpers for end-to-end tests that start real xnatlite processes on free loopback ports."""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicom_receiver.models import Receiver
from tests.ports import PortTaken, start_on_a_free_port
from tests.waiting import TIMEOUT, wait_for

ROOT = Path(__file__).resolve().parents[2]


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a child xnatlite process: its own data root, the test run's database/broker."""
    env = dict(os.environ)
    env.update(
        SECRET_KEY="e2e-secret",
        XNATLITE_DATA_ROOT=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
        XNATLITE_TESTING="false",
        XNATLITE_DICOM_HOST="127.0.0.1",  # serve runs the DICOM receiver too: loopback only in tests
    )
    env.update(extra)
    return env


class Server:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path):
        self.proc, self.url, self.log = proc, url, log

    def stop(self, timeout: float = TIMEOUT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)
        return self.proc.returncode


def start_serve(tmp_path: Path, *args: str, env: dict[str, str], timeout: float = TIMEOUT) -> Server:
    """Run `manage.py serve --port 0` and wait until it prints the address it listens on."""
    log = tmp_path / "serve.log"
    out = open(log, "w")  # noqa: SIM115 - the child writes to it for its whole life
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        match = wait_for(
            lambda: re.search(r"serving (http://\S+/)", log.read_text()),
            what="serve to start",
            timeout=timeout,
            poll=0.05,
            process=proc,
            log=log,
        )
    except AssertionError:
        proc.kill()
        proc.wait(TIMEOUT)
        raise
    return Server(proc, match.group(1), log)


def start_serve_receiving(tmp_path: Path, env: dict) -> tuple[Server, int]:
    """`manage.py serve` with its DICOM receiver on a port chosen here, and that port. serve's receiver
    cannot share its port, so a port taken before serve could bind it means starting again on another."""

    def attempt(port: int) -> tuple[Server, int]:
        Receiver.objects.all().delete()  # serve creates the default receiver from XNATLITE_DICOM_PORT
        server = start_serve(tmp_path, "--no-migrate", env={**env, "XNATLITE_DICOM_PORT": str(port)})
        bound = wait_for(
            lambda: re.search(
                rf"(receiving DICOM|cannot listen) on 127\.0\.0\.1:{port}\b", server.log.read_text()
            ),
            what="the receiver in serve",
            process=server.proc,
            log=server.log,
        )
        if bound.group(1) == "cannot listen":
            server.stop()
            raise PortTaken(port)
        return server, port

    return start_on_a_free_port(attempt)


@pytest.fixture
def serve_factory(tmp_path) -> Iterator:
    servers: list[Server] = []

    def start(*args: str, **env: str) -> Server:
        server = start_serve(tmp_path, *args, env=process_env(tmp_path, **env))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
