"""`manage.py build_idle_sessions [--loop]`: build idle RECEIVING sessions once, or every
XNATLITE_SESSION_CHECK_SECONDS until SIGTERM (the scheduler of docker-compose.yml without Celery beat)."""

import signal
import threading

from django.core.management.base import BaseCommand

from prearchive import sweep


class Command(BaseCommand):
    help = "Move RECEIVING sessions idle for XNATLITE_SESSION_IDLE_SECONDS through BUILDING to READY."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep running until SIGTERM")
        parser.add_argument("--interval", type=float, default=None, help="seconds between runs with --loop")

    def handle(self, *args, loop: bool, interval: float | None, **options):
        if not loop:
            report = sweep.build_idle_sessions()
            self.stdout.write(
                f"ready {len(report.ready)}, errors {len(report.errors)}, "
                f"interrupted {len(report.interrupted)}, recovered {len(report.recovered)}"
            )
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: stop.set())
        sweep.run_builder(stop, interval)
