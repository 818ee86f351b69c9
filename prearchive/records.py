"""The rows of instances written into a prearchive session, recorded in one transaction per session and
batch (the receiver's spool hands over batches), with the session's counts; a later copy of an
instance replaces the earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from prearchive.models import ACCEPTING, PrearchiveFile, PrearchiveSession
from xnatlite import layout

CLAIM_TRIES = 8


class SessionLeftReceiving(Exception):
    """The session stopped accepting data between the claim and the row (deleted, moved, built)."""


@dataclass
class Recorded:
    """The row of one recorded instance, and whether it replaced a copy already in the session."""

    row: PrearchiveFile
    replaced: bool = False


def _record(
    session: PrearchiveSession, entries: list[tuple[str, dict]], upload: str
) -> tuple[list[Recorded], set[str]]:
    """The rows of `entries` in one transaction (the caller's); returns them and the paths they made stale."""
    uids = {uid for uid, _ in entries}
    existing = {
        row.sop_instance_uid: row
        for row in PrearchiveFile.objects.select_for_update().filter(
            session=session, sop_instance_uid__in=uids
        )
    }
    series = {fields["series_instance_uid"] for _, fields in entries}
    known_series = set(
        PrearchiveFile.objects.filter(session=session, series_instance_uid__in=series)
        .order_by()
        .values_list("series_instance_uid", flat=True)
        .distinct()
    )
    last = {uid: index for index, (uid, _) in enumerate(entries)}  # a later copy in the batch wins
    first = {uid: index for index, (uid, _) in reversed(list(enumerate(entries)))}
    rows: dict[str, Recorded] = {}
    stale: set[str] = set()
    new_rows, changed = [], []
    added_files = added_size = 0
    for index, (uid, fields) in enumerate(entries):
        if last[uid] != index:
            stale.add(fields["path"])
            continue
        row = existing.get(uid)
        if row is None:
            row = PrearchiveFile(session=session, sop_instance_uid=uid, **fields)
            new_rows.append(row)
            added_files += 1
            added_size += fields["size"]
            rows[uid] = Recorded(row, replaced=first[uid] != index)
        else:
            stale.add(row.path)
            added_size += fields["size"] - row.size
            for name, value in fields.items():
                setattr(row, name, value)
            changed.append(row)
            rows[uid] = Recorded(row, replaced=True)
        stale.discard(fields["path"])
    if new_rows:
        PrearchiveFile.objects.bulk_create(new_rows)
    if changed:
        PrearchiveFile.objects.bulk_update(changed, fields=list(entries[0][1]))
    counters: dict = {"last_modified": timezone.now()}
    if upload:
        counters["open_upload"] = upload  # not built until this upload ends (prearchive/uploads.py)
    if added_files:
        counters["file_count"] = F("file_count") + added_files
    if added_size:
        counters["total_size"] = F("total_size") + added_size
    new_series = {row.series_instance_uid for row in new_rows} - known_series
    if new_series:
        counters["scan_count"] = F("scan_count") + len(new_series)
    if not PrearchiveSession.objects.filter(pk=session.pk, status__in=ACCEPTING).update(**counters):
        raise SessionLeftReceiving(str(session))
    stale -= {recorded.row.path for recorded in rows.values()}
    return [rows[uid] for uid, _ in entries], stale


def record_files(
    session: PrearchiveSession, entries: list[tuple[str, dict]], *, upload: str = ""
) -> list[Recorded]:
    """Insert or replace the rows of instances written into `session` and update its counts, all in one
    transaction: one per batch of the spool instead of one per instance (README "The DICOM receiver", Speed).

    `entries` are (SOP Instance UID, PrearchiveFile columns); a second copy of an instance replaces the
    first (counted once) and the first copy's file is removed when its name differs. Raises
    SessionLeftReceiving (nothing recorded) when the session stopped accepting data. `upload` marks
    the session as written by that upload until it ends.
    """
    for _ in range(CLAIM_TRIES):
        try:
            with transaction.atomic():
                recorded, stale = _record(session, entries, upload)
        except IntegrityError:  # another worker recorded one of these instances first: again
            continue
        for path in stale:
            layout.absolute_path(path).unlink(missing_ok=True)
        return recorded
    raise RuntimeError(f"Could not record {len(entries)} instances in {session}")
