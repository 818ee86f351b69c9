"""`manage.py dicom_receiver`: serve every enabled receiver and process what it receives, until SIGTERM.

By default this process supervises two kinds of children and restarts any that dies:
  receiver processes (XNATLITE_RECEIVER_PROCESSES) sharing the ports (SO_REUSEPORT): they answer the
    associations and queue each instance in the spool;
  spool workers (XNATLITE_RECEIVER_WORKERS): they route, anonymize and record the spooled instances.
With `--processes 1 --workers 1` everything runs in this one process instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from dicom_receiver import spool
from dicom_receiver.server import run_receiver


def default_processes() -> int:
    """One receiver process per core: a receiving process mostly waits for the kernel."""
    return min(os.cpu_count() or 1, 16)


def default_workers() -> int:
    """One spool worker per core: processing an instance is CPU work in Python."""
    return min(os.cpu_count() or 1, 16)


class Command(BaseCommand):
    help = "Run the DICOM receivers (C-ECHO, C-STORE into the prearchive) until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.DICOM_HOST, help="address to listen on")
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.RECEIVER_PROCESSES or default_processes(),
            help="receiver processes sharing the ports (default: XNATLITE_RECEIVER_PROCESSES or one per core)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.RECEIVER_WORKERS or default_workers(),
            help="spool worker processes (default: XNATLITE_RECEIVER_WORKERS or one per core)",
        )
        parser.add_argument("--role", choices=["receiver", "worker"], help=argparse.SUPPRESS)

    def handle(self, *args, host: str, processes: int, workers: int, role: str | None, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: stop.set())
        if role == "worker":
            spool.run_worker(stop)
        elif role == "receiver":
            run_receiver(stop, host=host, reuse_port=True, on_ready=self._ready)
        elif processes <= 1 and workers <= 1:
            run_receiver(stop, host=host, workers=max(workers, 1), on_ready=self._ready)
        else:
            self._supervise(stop, host, max(processes, 1), max(workers, 1))

    def _ready(self, service) -> None:
        ports = ", ".join(str(port) for port in sorted(service.servers)) or "none"
        self.stdout.write(f"xnatlite receiver listening on {service.host} ports {ports} (pid {os.getpid()})")
        self.stdout.flush()

    def _supervise(self, stop: threading.Event, host: str, processes: int, workers: int) -> None:
        """Run the receiver and worker children; restart any that exits; pass SIGTERM on."""
        base = [sys.argv[0], "dicom_receiver", "--host", host]
        base = [sys.executable, *base] if sys.argv[0].endswith(".py") else base
        commands = [[*base, "--role", "receiver"]] * processes + [[*base, "--role", "worker"]] * workers
        children = [subprocess.Popen(command) for command in commands]
        while not stop.wait(1.0):
            for index, child in enumerate(children):
                if child.poll() is not None:
                    self.stderr.write(
                        f"receiver process {child.pid} exited with {child.returncode}; restarting"
                    )
                    time.sleep(1.0)
                    children[index] = subprocess.Popen(commands[index])
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
