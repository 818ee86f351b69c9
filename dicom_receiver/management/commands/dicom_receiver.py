"""`manage.py dicom_receiver`: serve every enabled receiver and process what it receives, until SIGTERM.

By default this process supervises two kinds of children and restarts any that dies:
  receiver processes (XNATLITE_RECEIVER_PROCESSES) sharing the ports (SO_REUSEPORT): they answer the
    associations and queue each instance in the spool;
  spool workers (XNATLITE_RECEIVER_WORKERS): they route, anonymize and record the spooled instances.
With `--processes 1 --workers 1` everything runs in this one process instead.

Every child ends with the process that started it, even when that one is killed (SIGKILL), and a set
of receivers refuses to start on a port another set on this host serves (dicom_receiver/server.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dicom_receiver import spool
from dicom_receiver.server import (
    Children,
    PortTaken,
    claim_ports,
    default_count,
    manage_command,
    run_receiver,
)
from xnatlite import processes as lifeline


class Command(BaseCommand):
    help = "Run the DICOM receivers (C-ECHO, C-STORE into the prearchive) until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.DICOM_HOST, help="address to listen on")
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.RECEIVER_PROCESSES or default_count(),
            help="receiver processes sharing the ports (default: XNATLITE_RECEIVER_PROCESSES or one per core)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.RECEIVER_WORKERS or default_count(),
            help="spool worker processes (default: XNATLITE_RECEIVER_WORKERS or one per core)",
        )
        parser.add_argument("--role", choices=["receiver", "worker"], help=argparse.SUPPRESS)
        parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # a child ends with this process

    def handle(self, *args, host: str, processes: int, workers: int, role: str | None, parent, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: stop.set())
        if parent is not None:
            lifeline.end_with_parent(parent)
        try:
            if role == "worker":
                spool.run_worker(stop)
            elif role == "receiver":
                run_receiver(stop, host=host, reuse_port=True, own_ports=False, on_ready=self._ready)
            elif processes <= 1 and workers <= 1:
                run_receiver(stop, host=host, workers=max(workers, 1), on_ready=self._ready)
            else:
                self._supervise(stop, host, max(processes, 1), max(workers, 1))
        except PortTaken as exc:
            raise CommandError(str(exc)) from None

    def _ready(self, service) -> None:
        ports = ", ".join(str(port) for port in sorted(service.servers)) or "none"
        self.stdout.write(f"xnatlite receiver listening on {service.host} ports {ports} (pid {os.getpid()})")
        self.stdout.flush()

    def _supervise(self, stop: threading.Event, host: str, processes: int, workers: int) -> None:
        """Run the receiver and worker children; restart any that exits; pass SIGTERM on."""
        claimed = claim_ports()  # held as long as this process lives
        base = manage_command("dicom_receiver", "--host", host, "--parent", str(os.getpid()))
        children = Children(
            [[*base, "--role", "receiver"]] * processes + [[*base, "--role", "worker"]] * workers
        )
        try:
            while not stop.wait(1.0):
                children.restart_dead()
        finally:
            children.stop()
            for holder in claimed:
                holder.close()
