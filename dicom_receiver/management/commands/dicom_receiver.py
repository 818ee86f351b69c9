"""`manage.py dicom_receiver`: serve every enabled receiver until SIGTERM.

With several processes (XNATLITE_RECEIVER_PROCESSES, default two per CPU core) this process starts
that many copies of itself that share the ports (SO_REUSEPORT), so associations spread over the cores,
and restarts any that dies.
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

from dicom_receiver.server import run_receiver


def default_processes() -> int:
    """Two per core, at most 16: the kernel spreads associations over processes by a hash of their
    addresses, so with 4 associations 2 processes often got 3 of them (bench/receiver.py)."""
    return min(2 * (os.cpu_count() or 1), 16)


class Command(BaseCommand):
    help = "Run the DICOM receivers (C-ECHO, C-STORE into the prearchive) until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.DICOM_HOST, help="address to listen on")
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.RECEIVER_PROCESSES or default_processes(),
            help="receiver processes sharing the ports (default: XNATLITE_RECEIVER_PROCESSES or two per core)",
        )
        parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, host: str, processes: int, reuse_port: bool, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: stop.set())
        if processes <= 1:
            run_receiver(stop, host=host, reuse_port=reuse_port, on_ready=self._ready)
            return
        self._supervise(stop, host, processes)

    def _ready(self, service) -> None:
        ports = ", ".join(str(port) for port in sorted(service.servers)) or "none"
        self.stdout.write(f"xnatlite receiver listening on {service.host} ports {ports} (pid {os.getpid()})")
        self.stdout.flush()

    def _supervise(self, stop: threading.Event, host: str, processes: int) -> None:
        """Run `processes` single-process receivers on shared ports; restart any that exits."""
        command = [sys.argv[0], "dicom_receiver", "--processes", "1", "--reuse-port", "--host", host]
        command = [sys.executable, *command] if sys.argv[0].endswith(".py") else command
        children: list[subprocess.Popen] = [subprocess.Popen(command) for _ in range(processes)]
        while not stop.wait(1.0):
            for index, child in enumerate(children):
                if child.poll() is not None:
                    self.stderr.write(
                        f"receiver process {child.pid} exited with {child.returncode}; restarting"
                    )
                    time.sleep(1.0)
                    children[index] = subprocess.Popen(command)
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
