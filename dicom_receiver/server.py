"""The receiver: one listener per port serving every enabled receiver on it, with the configuration
re-read from the database every few seconds (no restart needed, xnat-spec.md §5.2), and the spool
workers that process what the listeners acknowledged (dicom_receiver/spool.py).

`manage.py dicom_receiver` runs listeners and workers in separate processes; `manage.py serve` and the
tests run both in threads of one process through `run_receiver(stop, workers=n)`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from django.conf import settings
from django.db import close_old_connections

from dicom_receiver import routing, spool
from dicom_receiver.acceptor import Listener
from dicom_receiver.handlers import ReceiverEvents
from dicom_receiver.models import Receiver, ensure_default_receiver

log = logging.getLogger("xnatlite.receiver")

RELOAD_SECONDS = 5.0
# `manage.py serve`: spool workers in threads of the all-in-one process (measured in bench/receiver.py).
SERVE_WORKERS = 1


class ReceiverService:
    """The listeners of this process and the receiver configurations they serve."""

    def __init__(self, host: str = "0.0.0.0", reuse_port: bool = False):
        self.host, self.reuse_port = host, reuse_port
        self.servers: dict[int, Listener] = {}
        self._by_port: dict[int, dict[str, Receiver]] = {}
        self._whitelists: dict[tuple[int, object], list[routing.WhitelistEntry]] = {}
        self.reloads = 0

    # called from association threads
    def receiver_for(self, port: int, called_ae: str) -> Receiver | None:
        return self._by_port.get(port, {}).get(called_ae.strip())

    def whitelist_allows(self, receiver: Receiver, calling_ae: str, address: str) -> bool:
        entries = self._whitelists.get((receiver.pk, receiver.updated_at))
        if entries is None:
            entries = receiver.whitelist_entries
        return routing.whitelist_allows(entries, calling_ae, address)

    # called from the reload loop
    def reload(self) -> None:
        """Start listeners for new ports, stop those of ports without an enabled receiver."""
        by_port: dict[int, dict[str, Receiver]] = defaultdict(dict)
        whitelists = {}
        for receiver in Receiver.objects.filter(enabled=True):
            try:
                whitelists[(receiver.pk, receiver.updated_at)] = receiver.whitelist_entries
            except Exception as exc:  # saved around the admin's validation: refuse everyone, not allow all
                log.error("receiver %s has a bad whitelist (%s); it is not served", receiver, exc)
                continue
            by_port[receiver.port][receiver.ae_title.strip()] = receiver
        self._whitelists, self._by_port = whitelists, dict(by_port)
        for port in list(self.servers):
            if port not in by_port:
                log.info("no enabled receiver on port %s any more: closing it", port)
                self.servers.pop(port).close()
        for port, receivers in by_port.items():
            if port not in self.servers:
                self._start(port, sorted(receivers))
        self.reloads += 1

    def _start(self, port: int, titles: list[str]) -> None:
        try:
            server = Listener((self.host, port), ReceiverEvents(self, port), reuse_port=self.reuse_port)
        except OSError as exc:
            log.error("cannot listen on %s:%s for %s: %s", self.host, port, ", ".join(titles), exc)
            return
        server.serve_in_thread()
        self.servers[port] = server
        log.info("receiving DICOM on %s:%s as %s", self.host, port, ", ".join(titles))

    def shutdown(self) -> None:
        for server in self.servers.values():
            server.close()
        self.servers.clear()


def start_workers(stop: threading.Event, count: int) -> list[threading.Thread]:
    """`count` spool workers in threads of this process, until `stop` is set."""
    threads = [
        threading.Thread(target=spool.run_worker, args=(stop,), name=f"spool-worker-{n}", daemon=True)
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def run_receiver(
    stop: threading.Event,
    *,
    host: str | None = None,
    reuse_port: bool = False,
    reload_seconds: float = RELOAD_SECONDS,
    workers: int = 0,
    on_ready=None,
) -> None:
    """Serve every enabled receiver until `stop` is set, re-reading the configuration as it goes; with
    `workers`, also process the spool in that many threads."""
    host = host if host is not None else settings.DICOM_HOST
    service = ReceiverService(host, reuse_port)
    workers_stop = threading.Event()  # set once the listeners are closed: workers finish what they hold
    worker_threads = start_workers(workers_stop, workers)
    try:
        close_old_connections()
        ensure_default_receiver()
        spool.remove_stale_partials()
        service.reload()
        if on_ready is not None:
            on_ready(service)
        while not stop.wait(reload_seconds):
            try:
                close_old_connections()
                service.reload()
                spool.remove_stale_partials()
            except Exception:
                log.exception("reloading the receiver configuration failed; keeping the current one")
    finally:
        service.shutdown()
        workers_stop.set()
        for thread in worker_threads:
            thread.join(60)
        close_old_connections()


def start(stop: threading.Event) -> None:
    """`serve` companion: the DICOM receiver and its spool workers in threads of the all-in-one process."""
    run_receiver(stop, workers=SERVE_WORKERS)
