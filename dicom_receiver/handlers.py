"""pynetdicom event handlers: event in -> ingest_file -> DICOM status out. No rule lives here.

Statuses (PS3.4 B.2.3, xnat-spec.md §5.1): 0000 stored (or dropped by a `reject` in the site script,
as XNAT does); C210 cannot understand (not DICOM, truncated, no SOP UIDs); A700 out of resources
(a failure on our side: disk full, a failing site script, the database).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.db import close_old_connections, connections
from pynetdicom.events import Event

from prearchive.ingest import IngestContext, ReceiverInfo, ingest_file
from xnatlite.errors import InvalidDicom

log = logging.getLogger("xnatlite.receiver")

SUCCESS = 0x0000
CANNOT_UNDERSTAND = 0xC210
OUT_OF_RESOURCES = 0xA700

# Association rejection reasons (PS3.8 9.3.4): permanent, by the service user.
REJECT_CALLING_AE = (0x01, 0x01, 0x03)
REJECT_CALLED_AE = (0x01, 0x01, 0x07)


@dataclass
class AssociationStats:
    """What one association brought, for its log line."""

    info: ReceiverInfo
    started: float = field(default_factory=time.monotonic)
    instances: int = 0
    refused: int = 0
    failed: int = 0
    bytes: int = 0


def _peer(event: Event) -> tuple[str, str, str]:
    requestor = event.assoc.requestor
    primitive = requestor.primitive
    return primitive.called_ae_title.strip(), primitive.calling_ae_title.strip(), requestor.address


def handle_requested(event: Event, service, port: int) -> None:
    """Pick the receiver by called AE title on this port; reject unknown titles and whitelist misses."""
    called_ae, calling_ae, address = _peer(event)
    receiver = service.receiver_for(port, called_ae)
    if receiver is None:
        log.warning(
            "rejected association from %s@%s: no receiver %s on port %s", calling_ae, address, called_ae, port
        )
        event.assoc.acse.send_reject(*REJECT_CALLED_AE)
        return
    if not service.whitelist_allows(receiver, calling_ae, address):
        log.warning(
            "rejected association from %s@%s to %s: not on the whitelist", calling_ae, address, called_ae
        )
        event.assoc.acse.send_reject(*REJECT_CALLING_AE)
        return
    event.assoc.acceptor.ae_title = called_ae
    event.assoc.xnatlite_stats = AssociationStats(ReceiverInfo(called_ae, calling_ae, address, receiver))


def handle_established(event: Event) -> None:
    close_old_connections()


def handle_echo(event: Event) -> int:
    """C-ECHO: we are here."""
    return SUCCESS


def handle_store(event: Event) -> int:
    """C-STORE: the instance is already on disk (chunked receive); pynetdicom deletes it on return."""
    stats: AssociationStats = event.assoc.xnatlite_stats
    path = event.dataset_path
    try:
        size = path.stat().st_size
        ingest_file(path, IngestContext(source="dicom", receiver=stats.info))
    except InvalidDicom as exc:
        stats.refused += 1
        log.warning("refused an instance from %s@%s: %s", stats.info.calling_ae, stats.info.address, exc)
        return CANNOT_UNDERSTAND
    except Exception:  # our side failed (disk, site script, database): the sender should retry
        stats.failed += 1
        log.exception("could not store an instance from %s@%s", stats.info.calling_ae, stats.info.address)
        return OUT_OF_RESOURCES
    stats.instances += 1
    stats.bytes += size
    return SUCCESS


def handle_closed(event: Event) -> None:
    """One log line per association: who, how many instances and bytes, how long."""
    stats: AssociationStats | None = getattr(event.assoc, "xnatlite_stats", None)
    if stats is not None and not getattr(stats, "logged", False):
        stats.logged = True
        seconds = time.monotonic() - stats.started
        log.info(
            "association %s@%s -> %s %s: %d instances, %d refused, %d failed, %.1f MB in %.2f s",
            stats.info.calling_ae,
            stats.info.address,
            stats.info.ae_title,
            "released" if event.assoc.is_released else "aborted",
            stats.instances,
            stats.refused,
            stats.failed,
            stats.bytes / 1e6,
            seconds,
        )
    connections.close_all()  # this association's thread is done with the database
