"""The embedded mode's watch over pipeline runs (`manage.py serve` runs it; Celery beat runs the same
task in the PostgreSQL/Redis deployment): once a minute, runs left Running by a worker that stopped
beating become Failed (pipelines/services.py `fail_stale_runs`)."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections

from pipelines import services

log = logging.getLogger(__name__)
EVERY_SECONDS = 60.0


def start(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            close_old_connections()
            services.fail_stale_runs()
        except Exception:
            log.exception("failing stale pipeline runs failed")
        stop.wait(EVERY_SECONDS)
