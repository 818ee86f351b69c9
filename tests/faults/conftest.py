"""The fault-injection suite of issue 16: the multi-process deployment (`manage.py dicom_receiver`, the
idle-session builder that beat would run, Celery workers, a broker) started as real processes on
loopback, each killed with SIGKILL at a moment chosen at random, and what was acknowledged checked in
the archive afterwards. It needs PostgreSQL and a broker: `make test` runs it in that mode and skips it
in the embedded one (SQLite, tasks in-process: no process there to kill but the one that runs it all).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import celery_worker_command
from tests.e2e.conftest import ROOT
from tests.ports import reserved_port
from tests.waiting import TIMEOUT, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def multi_process_mode():
    if "sqlite" in settings.DATABASES["default"]["ENGINE"] or not settings.CELERY_BROKER_URL:
        pytest.skip(
            "the fault suite runs in the PostgreSQL + Redis mode (DATABASE_URL and CELERY_BROKER_URL set)"
        )


@pytest.fixture
def rng() -> random.Random:
    """The random moments of a run; the seed is printed so that a failure can be replayed."""
    seed = int(os.environ.get("XNATLITE_FAULT_SEED", random.randrange(1 << 30)))
    print(f"fault seed: XNATLITE_FAULT_SEED={seed}")
    return random.Random(seed)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
            for kid in kids:
                if _alive(kid):
                    found.append(kid)
                    todo.append(kid)
    return found


@dataclass
class Role:
    """One process of the deployment, restartable: its command, its log, the process now running and
    every pid it and its children ever had (to check that none is left)."""

    name: str
    command: list[str]
    env: dict
    folder: Path
    ready: str  # a line the log shows once it serves
    proc: subprocess.Popen | None = None
    starts: int = 0
    pids: set[int] = field(default_factory=set)

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.pids.add(self.proc.pid)
        wait_for(
            lambda: self.ready in self.log.read_text(),
            what=f"the {self.name} to start",
            process=self.proc,
            log=self.log,
        )
        self.pids.update(descendants(self.proc.pid))

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a pulled plug would: no chance to clean up or stop children."""
        assert self.proc is not None and self.proc.poll() is None, (
            f"the {self.name} died before it was killed"
        )
        self.pids.update(descendants(self.proc.pid))
        self.proc.kill()
        self.proc.wait(TIMEOUT)
        wait_for(lambda: not self.left_behind(), what=f"the children of the killed {self.name} to end")

    def left_behind(self) -> list[int]:
        return [pid for pid in self.pids if _alive(pid)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.pids.update(descendants(self.proc.pid))
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)


@dataclass
class Deployment:
    receiver: Role
    builder: Role
    worker: Role
    port: int
    queue: str

    def roles(self) -> list[Role]:
        return [self.receiver, self.builder, self.worker]


@pytest.fixture
def deployment(transactional_db, child_env, tmp_path) -> Iterator:
    """deploy(broker_url=...) -> a Deployment started on this test's database and data folder: one receiver
    (one receiving process, two spool workers), the idle-session builder looping every second (what beat
    does every minute), one Celery worker on a queue of its own. Sessions are idle after 2 s and a task
    is judged lost after 5 s, so that the sweep's recovery happens within the test."""
    from xnatlite.celery import app

    made: list[Deployment] = []
    previous_queue = app.conf.task_default_queue
    previous_eager = app.conf.task_always_eager

    def deploy(broker_url: str | None = None) -> Deployment:
        queue = f"xnatlite-faults-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        app.conf.task_default_queue = queue
        app.conf.task_always_eager = False
        env = {
            **child_env,
            "XNATLITE_CELERY_QUEUE": queue,
            "XNATLITE_SESSION_IDLE_SECONDS": "2",
            "XNATLITE_LOST_TASK_SECONDS": "5",
            "XNATLITE_LOG_LEVEL": "INFO",
        }
        if broker_url:
            env["CELERY_BROKER_URL"] = broker_url
        holder = reserved_port()
        port = holder.__enter__()
        env["XNATLITE_DICOM_PORT"] = str(port)
        python = [sys.executable]
        receiver = Role(
            "receiver",
            [
                *python,
                "manage.py",
                "dicom_receiver",
                "--processes",
                "1",
                "--workers",
                "2",
                "--host",
                "127.0.0.1",
            ],
            env,
            tmp_path,
            ready=f"listening on 127.0.0.1 ports {port} ",
        )
        builder = Role(
            "builder",
            [*python, "manage.py", "build_idle_sessions", "--loop", "--interval", "1"],
            env,
            tmp_path,
            ready="idle-session builder",
        )
        worker = Role(
            "worker",
            celery_worker_command(queue),
            env,
            tmp_path,
            ready="ready.",
        )
        found = Deployment(receiver, builder, worker, port, queue)
        found.holder = holder  # type: ignore[attr-defined]
        made.append(found)
        for role in found.roles():
            role.start()
        return found

    yield deploy
    app.conf.task_default_queue = previous_queue
    app.conf.task_always_eager = previous_eager
    for found in made:
        for role in found.roles():
            role.stop()
        found.holder.__exit__(None, None, None)  # type: ignore[attr-defined]
        for role in found.roles():
            assert not role.left_behind(), f"processes of the {role.name} left behind: {role.left_behind()}"


@pytest.fixture
def private_redis(tmp_path) -> Iterator:
    """A redis-server of this test's own on a loopback port, never the shared one: start() and kill()
    it as the broker-loss cases need. Without persistence, as a broker restarted empty."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    procs: list[subprocess.Popen] = []
    state: dict = {}

    def launch(port: int) -> subprocess.Popen | None:
        log = tmp_path / f"redis-{len(procs)}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        wait_for(
            lambda: "Ready to accept connections" in log.read_text() or proc.poll() is not None,
            what="the private redis",
            log=log,
        )
        return proc if proc.poll() is None else None

    def start() -> str:
        """Start it: on a port the OS just handed out the first time (again if another took it since),
        on the same port after that, as a broker restarted in place."""
        if "port" in state:
            assert launch(state["port"]), "the private redis did not start again on its port"
        else:
            for _ in range(5):
                with reserved_port() as port:
                    pass
                if launch(port):
                    state["port"] = port
                    break
            else:
                raise AssertionError("the private redis found no free port in 5 attempts")
        return f"redis://127.0.0.1:{state['port']}/0"

    def kill() -> None:
        procs[-1].kill()
        procs[-1].wait(TIMEOUT)

    start.kill = kill  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
