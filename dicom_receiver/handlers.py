"""What the receiver answers on an association: event in -> spool -> DICOM status out. No rule lives here.

Statuses (PS3.4 B.2.3, xnat-spec.md §5.1): 0000 once the instance is complete in the spool (its site
script and rows come moments later, dicom_receiver/spool.py); C210 cannot understand (not DICOM,
truncated, no SOP UIDs: the receive-time check of dicomio/dimse.py); A700 out of resources (a
failure on our side: the disk is full). An instance that only turns out unusable when it is processed
(its site script fails, say) was already acknowledged: it is quarantined for a site admin, never lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from dicom_receiver.incoming import IncomingInstance
from dicomio import dimse
from dicomio.acceptor import Association
from dicomio.errors import InvalidDicom

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

    started: float = field(default_factory=time.monotonic)
    instances: int = 0
    refused: int = 0
    failed: int = 0
    bytes: int = 0


class ReceiverEvents:
    """The acceptor's events for one port (dicomio.acceptor.Events)."""

    def __init__(self, service, port: int):
        self.service, self.port = service, port

    def requested(self, assoc: Association) -> tuple[int, int, int] | None:
        """Pick the receiver by called AE title on this port; reject unknown titles and whitelist misses."""
        receiver = self.service.receiver_for(self.port, assoc.called_ae)
        if receiver is None:
            log.warning(
                "rejected association from %s@%s: no receiver %s on port %s",
                assoc.calling_ae,
                assoc.peer_address,
                assoc.called_ae,
                self.port,
            )
            return REJECT_CALLED_AE
        if not self.service.whitelist_allows(receiver, assoc.calling_ae, assoc.peer_address):
            log.warning(
                "rejected association from %s@%s to %s: not on the whitelist",
                assoc.calling_ae,
                assoc.peer_address,
                assoc.called_ae,
            )
            return REJECT_CALLING_AE
        assoc.trusted = self.service.on_whitelist(receiver, assoc.calling_ae, assoc.peer_address)
        assoc.state = AssociationStats()
        return None

    def open_instance(self, assoc: Association, command: dict[int, bytes], transfer_syntax: str):
        arrival = dimse.Arrival(assoc.calling_ae, assoc.called_ae, assoc.peer_address, self.port)
        meta = dimse.file_meta(
            dimse.command_uid(command, dimse.AFFECTED_SOP_CLASS_UID),
            dimse.command_uid(command, dimse.AFFECTED_SOP_INSTANCE_UID),
            transfer_syntax,
            arrival,
        )
        return IncomingInstance(meta, transfer_syntax)

    def store(self, assoc: Association, instance: IncomingInstance) -> int:
        """C-STORE: the data set arrived whole; check it and queue it in the spool."""
        stats: AssociationStats = assoc.state
        try:
            instance.check()
            instance.commit()
        except InvalidDicom as exc:
            instance.discard()
            stats.refused += 1
            log.warning("refused an instance from %s@%s: %s", assoc.calling_ae, assoc.peer_address, exc)
            return CANNOT_UNDERSTAND
        except Exception:  # our side failed (a full disk): the sender should retry
            instance.discard()
            stats.failed += 1
            log.exception("could not store an instance from %s@%s", assoc.calling_ae, assoc.peer_address)
            return OUT_OF_RESOURCES
        stats.instances += 1
        stats.bytes += instance.size - instance.meta_length
        return SUCCESS

    def echo(self, assoc: Association) -> int:
        """C-ECHO: we are here."""
        return SUCCESS

    def closed(self, assoc: Association) -> None:
        """One log line per association: who, how many instances and bytes, how long."""
        stats: AssociationStats | None = assoc.state
        if stats is None:
            return
        log.info(
            "association %s@%s -> %s %s: %d instances, %d refused, %d failed, %.1f MB in %.2f s",
            assoc.calling_ae,
            assoc.peer_address,
            assoc.called_ae,
            "released" if assoc.released else "aborted",
            stats.instances,
            stats.refused,
            stats.failed,
            stats.bytes / 1e6,
            time.monotonic() - stats.started,
        )
