"""The receiver process: one pynetdicom listener per port serving every enabled receiver on it, with
the configuration re-read from the database every few seconds (no restart needed, xnat-spec.md §5.2).

Instances are received in chunks straight to disk (pynetdicom's STORE_RECV_CHUNKED_DATASET) under
`{data root}/cache/receiving/`, never into memory, then handed to the one ingest path.
"""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from pynetdicom import AE, _config, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from archive import layout
from dicom_receiver import handlers, routing
from dicom_receiver.models import Receiver, ensure_default_receiver

log = logging.getLogger("xnatlite.receiver")

RELOAD_SECONDS = 5.0
# The largest PDU we accept: fewer, larger writes than pynetdicom's 16 kB default, and a bound on
# the memory one association needs whatever the instance size.
MAX_PDU_SIZE = 1 << 20
MAX_ASSOCIATIONS = 64
# A chunk file nobody has written to for this long belongs to an association that died mid-instance.
STALE_CHUNK_SECONDS = 3600

# Receive C-STORE data sets to temporary files instead of memory (a 2 GB study must not need 2 GB),
# and accept every storage SOP class, private ones included (Siemens CSA, Philips), in whatever
# transfer syntax the sender proposes first: XNAT keeps what it cannot decompress as received (§5.1).
_config.STORE_RECV_CHUNKED_DATASET = True
_config.UNRESTRICTED_STORAGE_SERVICE = True


class ReusePortServer(ThreadedAssociationServer):
    """A listener that shares its port with the other receiver processes (the kernel spreads the
    associations over them, so several cores serve one port)."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def receiving_dir() -> Path:
    """Where chunked instances land while they arrive: on the data volume, not a RAM-backed /tmp."""
    path = layout.cache_root() / "receiving"
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_stale_chunks(folder: Path, older_than: float = STALE_CHUNK_SECONDS) -> int:
    """Delete partial instances left by associations aborted mid-transfer."""
    cutoff, removed = time.time() - older_than, 0
    for path in folder.glob("*.dcm"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def make_ae() -> AE:
    ae = AE(ae_title=settings.AE_TITLE)
    ae.add_supported_context(Verification)
    ae.maximum_pdu_size = MAX_PDU_SIZE
    ae.maximum_associations = MAX_ASSOCIATIONS
    return ae


class ReceiverService:
    """The listeners of this process and the receiver configurations they serve."""

    def __init__(self, host: str = "0.0.0.0", reuse_port: bool = False):
        self.host, self.reuse_port = host, reuse_port
        self.ae = make_ae()
        self.servers: dict[int, ThreadedAssociationServer] = {}
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
            except (
                Exception
            ) as exc:  # saved around the admin's validation: refuse everyone rather than allow all
                log.error("receiver %s has a bad whitelist (%s); it is not served", receiver, exc)
                continue
            by_port[receiver.port][receiver.ae_title.strip()] = receiver
        self._whitelists, self._by_port = whitelists, dict(by_port)
        for port in list(self.servers):
            if port not in by_port:
                log.info("no enabled receiver on port %s any more: closing it", port)
                self.servers.pop(port).shutdown()
        for port, receivers in by_port.items():
            if port not in self.servers:
                self._start(port, sorted(receivers))
        self.reloads += 1

    def _start(self, port: int, titles: list[str]) -> None:
        handlers_for_port = [
            (evt.EVT_REQUESTED, handlers.handle_requested, [self, port]),
            (evt.EVT_ESTABLISHED, handlers.handle_established),
            (evt.EVT_C_ECHO, handlers.handle_echo),
            (evt.EVT_C_STORE, handlers.handle_store),
            (evt.EVT_RELEASED, handlers.handle_closed),
            (evt.EVT_ABORTED, handlers.handle_closed),
        ]
        try:
            server = self.ae.make_server(
                (self.host, port),
                evt_handlers=handlers_for_port,
                server_class=ReusePortServer if self.reuse_port else ThreadedAssociationServer,
            )
        except OSError as exc:
            log.error("cannot listen on %s:%s for %s: %s", self.host, port, ", ".join(titles), exc)
            return
        self.ae._servers.append(server)  # as AE.start_server does: server.shutdown() removes it
        threading.Thread(target=server.serve_forever, name=f"receiver:{port}", daemon=True).start()
        self.servers[port] = server
        log.info("receiving DICOM on %s:%s as %s", self.host, port, ", ".join(titles))

    def shutdown(self) -> None:
        for server in self.servers.values():
            server.shutdown()
        self.servers.clear()


def run_receiver(
    stop: threading.Event,
    *,
    host: str | None = None,
    reuse_port: bool = False,
    reload_seconds: float = RELOAD_SECONDS,
    on_ready=None,
) -> None:
    """Serve every enabled receiver until `stop` is set, re-reading the configuration as it goes."""
    host = host if host is not None else settings.DICOM_HOST
    chunks = receiving_dir()
    previous_tempdir = tempfile.tempdir
    # pynetdicom writes chunked instances with NamedTemporaryFile(): point it at the data volume.
    tempfile.tempdir = str(chunks)
    service = ReceiverService(host, reuse_port)
    try:
        close_old_connections()
        ensure_default_receiver()
        remove_stale_chunks(chunks)
        service.reload()
        if on_ready is not None:
            on_ready(service)
        while not stop.wait(reload_seconds):
            try:
                close_old_connections()
                service.reload()
                remove_stale_chunks(chunks)
            except Exception:
                log.exception("reloading the receiver configuration failed; keeping the current one")
    finally:
        service.shutdown()
        tempfile.tempdir = previous_tempdir
        close_old_connections()


def start(stop: threading.Event) -> None:
    """`serve` companion: the DICOM receiver in a thread of the all-in-one process."""
    run_receiver(stop)
