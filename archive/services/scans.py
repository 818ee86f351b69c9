"""Scans made by hand in a session: created (their ID becomes a folder name), described, deleted with
their resources and folder."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from archive.models import ImageSession, Scan
from archive.services import folders
from archive.services.fields import SCAN_EDITABLE, check_fields, update_fields
from xnatlite import audit, layout, permissions
from xnatlite.errors import ArchiveConflict, InvalidInput
from xnatlite.permissions import User

SCAN_FIELDS = ("type", "series_description", "quality", "note", "modality", "frames", "condition")


@transaction.atomic
def create_scan(
    session: ImageSession,
    scan_id: str,
    *,
    by: User,
    xsi_type: str = "xnat:mrScanData",
    **fields: Any,
) -> Scan:
    """An empty scan in a session (members and owners); its ID becomes a folder name."""
    permissions.require(by, "create", session)
    layout.scan_folder_name(scan_id)
    if not re.fullmatch(r"xnat:\w+ScanData", xsi_type or ""):
        raise InvalidInput(f"Unknown scan type '{xsi_type}'; for example xnat:mrScanData")
    check_fields(fields, SCAN_FIELDS, "scan")
    if Scan.objects.filter(session=session, scan_id=scan_id).exists():
        raise ArchiveConflict(f"Scan '{scan_id}' already exists in session {session.label}")
    scan = Scan.objects.create(
        session=session,
        scan_id=scan_id,
        xsi_type=xsi_type,
        modality=fields.pop("modality", "") or session.modality,
        frames=int(fields.pop("frames", 0) or 0),
        sort_key=layout.scan_sort_key(scan_id),
    )
    if fields:
        update_scan(scan, by=by, **fields)
    audit.record(by, "archive.scan.created", scan, session=session.label, scan_id=scan_id)
    return scan


@transaction.atomic
def update_scan(scan: Scan, *, by: User, **fields: Any) -> Scan:
    """Change a scan's type, series description, quality, condition or note (members and owners)."""
    return update_fields(scan, "scan", SCAN_EDITABLE, by, fields)


def delete_scan(scan: Scan, *, by: User) -> None:
    """Remove a scan with its resources and folder (owners)."""
    permissions.require(by, "delete", scan)
    folder = layout.archive_scan_dir(scan.session.project_id, scan.session.label, scan.scan_id)
    folders.delete_with_folders(scan, [folder], "archive.scan.deleted", by, session=scan.session.label)
