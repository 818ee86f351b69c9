"""Instances the receiver acknowledged but could not process (their site script failed, they turned out
unreadable): kept in `spool/quarantine/` with their reason for a site admin, who processes them again
(once the cause is fixed) or deletes them (README "The DICOM receiver").
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction

from dicom_receiver.folders import quarantine_dir, queue_dir, without_attempts
from dicom_receiver.models import QuarantinedInstance
from dicomio import dimse
from prearchive import intake
from xnatlite import audit, permissions

log = logging.getLogger("xnatlite.receiver")


def read_arrival(path: Path) -> dimse.Arrival | None:
    """How a spooled instance arrived; None when its file cannot say (ingest then reports why)."""
    try:
        return dimse.read_arrival(path)
    except OSError:
        return None


def quarantine(path: Path, reason: str, arrival: dimse.Arrival | None = None) -> None:
    """Keep an instance that cannot be processed out of the way, with its reason, for a site admin."""
    arrival = arrival or read_arrival(path)
    name = without_attempts(path.name)
    # The row and its audit record are committed before the file leaves the spool: whoever sees the
    # spool emptied sees the whole record (a crash in between leaves the instance queued, and its
    # next attempt updates the same row).
    with transaction.atomic():
        row, _ = QuarantinedInstance.objects.update_or_create(
            file_name=name,
            defaults={
                "reason": reason[:2000],
                "size": path.stat().st_size,
                "received_at": _from_ns(intake.received_ns(name)),
                "receiver_ae": arrival.called_ae[:16] if arrival else "",
                "calling_ae": arrival.calling_ae[:16] if arrival else "",
                "peer_address": arrival.peer_address[:64] if arrival else "",
            },
        )
        audit.record(
            permissions.receiver_actor(row.receiver_ae),
            "receiver.instance.quarantined",
            row,
            reason=reason[:300],
            calling_ae=row.calling_ae,
        )
    os.replace(path, quarantine_dir() / name)
    log.error("quarantined an instance from %s: %s", row.calling_ae or "?", reason)


def requeue_quarantined(row, *, by) -> bool:
    """Process a quarantined instance again (after the site script was fixed, say): False if its file
    is gone."""
    permissions.require_site_admin(by)
    source = quarantine_dir() / row.file_name
    if not source.is_file():
        return False
    os.replace(source, queue_dir() / row.file_name)
    audit.record(by, "receiver.instance.requeued", row)
    row.delete()
    return True


def delete_quarantined(row, *, by) -> None:
    """Delete a quarantined instance for good."""
    permissions.require_site_admin(by)
    (quarantine_dir() / row.file_name).unlink(missing_ok=True)
    audit.record(by, "receiver.instance.deleted", row)
    row.delete()


def _from_ns(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC) if ns else None
