"""The receiver: one listener per port serving every enabled receiver on it, with the configuration
re-read from the database every few seconds (no restart needed, xnat-spec.md §5.2), and the spool
workers that process what the listeners acknowledged (dicom_receiver/spool.py).

`manage.py dicom_receiver` runs listeners and workers in separate processes; `manage.py serve` runs the
listeners in a thread and the workers as its child processes; tests run both in threads.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections

from dicom_receiver import incoming, spool, whitelist
from dicom_receiver.handlers import ReceiverEvents
from dicom_receiver.models import Receiver, ensure_default_receiver
from dicomio.acceptor import Limits, Listener
from prearchive import sweep
from xnatlite import heartbeats, processes

log = logging.getLogger("xnatlite.receiver")

RELOAD_SECONDS = 5.0
SWEEP_OVERDUE_FACTOR = 3  # a sweep this many check periods late is run by a receiver


class PortTaken(Exception):
    """Another set of xnatlite receivers on this host serves the port."""


def port_name(port: int) -> str:
    """What a set of receivers holds on this host while it serves `port` (xnatlite/processes.py)."""
    return f"dicom-port-{port}"


class ReceiverService:
    """The listeners of this process and the receiver configurations they serve.

    With `own_ports`, the service holds each port's name on this host while it listens there and
    refuses a port another set of receivers holds (the processes of one set share their ports with
    SO_REUSEPORT; a second set on the same port would silently take half the associations). The
    receiver processes a supervisor starts do not: their supervisor holds the names.
    """

    def __init__(self, host: str = "0.0.0.0", reuse_port: bool = False, own_ports: bool = True):
        self.host, self.reuse_port, self.own_ports = host, reuse_port, own_ports
        self.servers: dict[int, Listener] = {}
        self._names: dict[int, socket.socket] = {}
        self.refused: set[int] = set()  # ports another set of receivers holds
        self._by_port: dict[int, dict[str, Receiver]] = {}
        self._whitelists: dict[tuple[int, object], list[whitelist.WhitelistEntry]] = {}
        self.reloads = 0

    # called from association threads
    def receiver_for(self, port: int, called_ae: str) -> Receiver | None:
        return self._by_port.get(port, {}).get(called_ae.strip())

    def whitelist_allows(self, receiver: Receiver, calling_ae: str, address: str) -> bool:
        entries = self._whitelists.get((receiver.pk, receiver.updated_at))
        if entries is None:
            entries = receiver.whitelist_entries
        return whitelist.whitelist_allows(entries, calling_ae, address)

    def on_whitelist(self, receiver: Receiver, calling_ae: str, address: str) -> bool:
        """Whether the receiver has a whitelist and the peer is on it (so it may use the reserved slots)."""
        entries = self._whitelists.get((receiver.pk, receiver.updated_at))
        if entries is None:
            entries = receiver.whitelist_entries
        return bool(entries) and whitelist.whitelist_allows(entries, calling_ae, address)

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
                if port in self._names:
                    self._names.pop(port).close()
        for port, receivers in by_port.items():
            if port not in self.servers:
                self._start(port, sorted(receivers))
        self.reloads += 1

    def _start(self, port: int, titles: list[str]) -> None:
        if self.own_ports and port not in self._names:
            holder = processes.hold_name(port_name(port))
            if holder is None:
                if port not in self.refused:
                    log.error(
                        "port %s is served by another xnatlite receiver on this host; not serving it", port
                    )
                self.refused.add(port)
                return
            self._names[port] = holder
            self.refused.discard(port)
        try:
            server = Listener(
                (self.host, port),
                ReceiverEvents(self, port),
                reuse_port=self.reuse_port,
                limits=listener_limits(),
            )
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
        for holder in self._names.values():
            holder.close()
        self._names.clear()


def listener_limits() -> Limits:
    """What one listener lets its peers hold, from the settings (issue 14 item 7)."""
    return Limits(
        associate_timeout=settings.DICOM_ASSOCIATE_TIMEOUT,
        max_associations=settings.DICOM_MAX_ASSOCIATIONS,
        reserved=min(settings.DICOM_RESERVED_ASSOCIATIONS, settings.DICOM_MAX_ASSOCIATIONS),
        per_peer=settings.DICOM_MAX_PER_PEER,
    )


def start_workers(stop: threading.Event, count: int) -> list[threading.Thread]:
    """`count` spool workers in threads of this process, until `stop` is set (tests)."""
    threads = [
        threading.Thread(target=spool.run_worker, args=(stop,), name=f"spool-worker-{n}", daemon=True)
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def default_count() -> int:
    """One per core, at most 16: the default number of receiver processes and of spool workers."""
    return min(os.cpu_count() or 1, 16)


def manage_command(*args: str) -> list[str]:
    """`manage.py ...` as a command line for a child process."""
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]


class Children:
    """Child processes that are restarted when they die and stopped with SIGTERM."""

    def __init__(self, commands: list[list[str]]):
        self.commands = commands
        self.processes = [subprocess.Popen(command) for command in commands]

    def restart_dead(self) -> None:
        for index, child in enumerate(self.processes):
            if child.poll() is not None:
                log.error("receiver child %s exited with %s; restarting it", child.pid, child.returncode)
                self.processes[index] = subprocess.Popen(self.commands[index])

    def stop(self, timeout: float = 60) -> None:
        for child in self.processes:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.processes:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()


def claim_ports() -> list[socket.socket]:
    """Hold the name of every enabled receiver's port on this host, for a supervisor whose receiver
    processes share the ports; PortTaken when another set holds one."""
    ensure_default_receiver()
    held = []
    for port in sorted(set(Receiver.objects.filter(enabled=True).values_list("port", flat=True))):
        holder = processes.hold_name(port_name(port))
        if holder is None:
            for other in held:
                other.close()
            raise PortTaken(f"Port {port} is served by another xnatlite receiver on this host; stop it first")
        held.append(holder)
    return held


def run_receiver(
    stop: threading.Event,
    *,
    host: str | None = None,
    reuse_port: bool = False,
    own_ports: bool = True,
    reload_seconds: float = RELOAD_SECONDS,
    workers: int = 0,
    worker_processes: int = 0,
    on_ready=None,
) -> None:
    """Serve every enabled receiver until `stop` is set, re-reading the configuration as it goes; also
    process the spool in `workers` threads and `worker_processes` child processes (restarted if they
    die, ending with this process)."""
    host = host if host is not None else settings.DICOM_HOST
    service = ReceiverService(host, reuse_port, own_ports)
    workers_stop = threading.Event()  # set once the listeners are closed: workers finish what they hold
    worker_threads = start_workers(workers_stop, workers)
    command = manage_command("dicom_receiver", "--role", "worker", "--parent", str(os.getpid()))
    children = Children([command] * worker_processes)
    try:
        close_old_connections()
        ensure_default_receiver()
        incoming.remove_stale_partials()
        service.reload()
        if service.refused:
            raise PortTaken(
                f"Port {min(service.refused)} is served by another xnatlite receiver on this host; stop it first"
            )
        if on_ready is not None:
            on_ready(service)
        while not stop.wait(reload_seconds):
            try:
                children.restart_dead()
                close_old_connections()
                service.reload()
                incoming.remove_stale_partials()
                heartbeats.beat("receiver", ports=sorted(service.servers))
            except Exception:
                log.exception("reloading the receiver configuration failed; keeping the current one")
            sweep_if_overdue()
    finally:
        service.shutdown()
        workers_stop.set()
        children.stop()
        for thread in worker_threads:
            thread.join(60)
        close_old_connections()


def sweep_if_overdue() -> None:
    """Run the idle-session sweep here when nobody has for a while (the scheduler, Celery beat, is
    down): ingest does not stop at the prearchive because one process is missing. One receiver process
    of the site claims each overdue run."""
    try:
        if heartbeats.claim_overdue(heartbeats.SWEEP, SWEEP_OVERDUE_FACTOR * settings.SESSION_CHECK_SECONDS):
            log.warning(
                "the idle-session sweep has not run for a while (is Celery beat down?): running it here"
            )
            sweep.build_idle_sessions()
    except Exception:
        log.exception("the idle-session sweep failed")
    finally:
        close_old_connections()


def start(stop: threading.Event) -> None:
    """`serve` companion: the DICOM receivers in threads of the all-in-one process, and the spool
    workers in child processes (XNATLITE_RECEIVER_WORKERS, one per core), which end with it: as
    threads they shared one core with everything else serve does (bench/receiver.py)."""
    run_receiver(stop, worker_processes=settings.RECEIVER_WORKERS or default_count())
