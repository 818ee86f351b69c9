"""`manage.py serve`: the all-in-one server of the embedded default.

Applies migrations, creates the first admin from XNATLITE_ADMIN_* if set, starts the background
companions other apps register (the DICOM receiver, the idle-session scheduler), and serves the web
app with waitress, a production-grade pure-Python WSGI server, until SIGINT or SIGTERM; with the limits
on bodies, slow clients and connections of `xnatlite/webserver.py`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from importlib import import_module

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from xnatlite import uploads, webserver

log = logging.getLogger("xnatlite.serve")

# Each entry names a function `start(stop: threading.Event) -> None` run in its own thread; it must
# return soon after `stop` is set. Apps add theirs here as they land.
COMPANIONS: list[str] = [
    "dicom_receiver.server.start",  # the DICOM receivers (README "The DICOM receiver")
    "prearchive.sweep.start",  # the idle-session builder (README "The prearchive")
    "pipelines.sweep.start",  # pipeline runs whose worker died are failed (README "Pipelines")
]


def _load(dotted: str) -> Callable[[threading.Event], None]:
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)


class Command(BaseCommand):
    help = "Run xnatlite in one process: web server plus the companions (receiver, scheduler)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HTTP_HOST)
        parser.add_argument("--port", type=int, default=settings.HTTP_PORT)
        parser.add_argument("--threads", type=int, default=settings.HTTP_THREADS)
        parser.add_argument("--no-migrate", action="store_true", help="skip applying migrations")
        parser.add_argument("--web-only", action="store_true", help="do not start the companions")

    def handle(self, *args, host: str, port: int, threads: int, no_migrate: bool, web_only: bool, **options):
        from xnatlite.wsgi import application

        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        if settings.ADMIN_USERNAME and settings.ADMIN_PASSWORD:
            call_command("createadmin")
        settings.DATA_ROOT.mkdir(parents=True, exist_ok=True)
        uploads.sweep_upload_leftovers()  # what a killed process left (the idle sweep repeats it)

        stop = threading.Event()
        workers = []
        for dotted in [] if web_only else COMPANIONS:
            thread = threading.Thread(target=_load(dotted), args=(stop,), name=dotted, daemon=True)
            thread.start()
            workers.append(thread)

        server = webserver.create_server(
            application,
            host=host,
            port=port,
            threads=threads,
            # waitress drops X-Forwarded-* headers by default; behind a proxy Django reads them itself
            # (SECURE_PROXY_SSL_HEADER, the client's address in xnatlite/signin.py).
            clear_untrusted_proxy_headers=not (settings.BEHIND_TLS_PROXY or settings.TRUSTED_PROXIES),
        )

        def shut_down(signum, frame):
            # waitress's loop ends on SystemExit raised in the main thread (where signal handlers run):
            # it then finishes the requests in progress. Closing its socket from here is not enough,
            # the loop keeps polling the connections that remain.
            log.info("signal %s: stopping", signum)
            stop.set()
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, shut_down)
        signal.signal(signal.SIGINT, shut_down)
        (address, bound), *_ = webserver.addresses(server)
        self.stdout.write(f"xnatlite serving http://{address}:{bound}/ (data in {settings.DATA_ROOT})")
        self.stdout.flush()
        try:
            server.run()
        finally:
            stop.set()
            server.close()
            for thread in workers:
                thread.join(timeout=30)
        self.stdout.write("xnatlite stopped")
