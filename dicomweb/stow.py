"""STOW-RS: instances POSTed as multipart/related go into the prearchive through the one ingest path, as
the REST import sends them (prearchive/uploads.py): the same context, routing and permissions (a project
routing names is used only when the uploader may use its prearchive, issue 14), then committed as an
import is. The whole body is saved first, so a malformed body stores nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from django.conf import settings
from pydicom.errors import InvalidDicomError

from dicomweb.multipart import Part, Readable, read_parts
from prearchive import uploads
from prearchive.ingest import IngestContext
from xnatlite import permissions
from xnatlite import uploads as kernel_uploads
from xnatlite.errors import InvalidDicom, XnatliteError
from xnatlite.models import Project

log = logging.getLogger(__name__)

# Failure reasons (PS3.18 Table I.2-3, PS3.4 Annex B).
CANNOT_UNDERSTAND = 0xC000
REFUSED_NOT_AUTHORIZED = 0x0124
PROCESSING_FAILURE = 0x0110
MAX_PARTS = 100_000


@dataclass
class StoreResult:
    stored: list[tuple[str, str]] = field(default_factory=list)  # (SOP class UID, SOP instance UID)
    failed: list[tuple[str, str, int]] = field(default_factory=list)  # ... and the failure reason


def _uids(path: Path) -> tuple[str, str]:
    try:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"], force=True
        )
    except (OSError, InvalidDicomError, ValueError, EOFError):
        return "", ""
    return str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))


def store_instances(
    stream: Readable, boundary: str, *, by: permissions.User, project: Project | None = None
) -> StoreResult:
    """Store every application/dicom part of a body; parts of any other type fail one by one."""
    result = StoreResult()
    context = IngestContext(
        source="dicomweb",
        project=project.pk if project is not None else None,
        user=by,
        upload=uploads.upload_id(),
    )
    with kernel_uploads.upload_folder() as folder:
        parts = read_parts(
            stream, boundary, folder, max_bytes=settings.UPLOAD_MAX_BYTES + 1024 * 1024, max_parts=MAX_PARTS
        )
        sessions: list[Any] = []
        try:
            _ingest_parts(parts, context, sessions, result)
        except BaseException:
            uploads.release(context.upload)
            raise
        uploads.finish_upload(context.upload, sessions, by=by, archive=False, commit=True)
    log.info("STOW-RS by %s: %d stored, %d failed", by, len(result.stored), len(result.failed))
    return result


def _ingest_parts(
    parts: list[Part], context: IngestContext, sessions: list[Any], result: StoreResult
) -> None:
    """Each part through the one ingest path; a part that fails is recorded and the next one goes on."""
    for part in parts:
        sop_class, sop_instance = _uids(part.path)
        media = part.content_type.split(";")[0].strip().lower()
        if media not in ("", "application/dicom") or not sop_instance:
            result.failed.append((sop_class, sop_instance, CANNOT_UNDERSTAND))
            continue
        if kernel_uploads.archive_kind(part.path) is not None:  # a zip is not an instance
            result.failed.append((sop_class, sop_instance, CANNOT_UNDERSTAND))
            continue
        try:
            taken = uploads.ingest_upload(part.path, context)
        except InvalidDicom as exc:
            log.info("STOW-RS: refused %s: %s", sop_instance, exc)
            result.failed.append((sop_class, sop_instance, CANNOT_UNDERSTAND))
            continue
        except XnatliteError as exc:
            log.info("STOW-RS: could not store %s: %s", sop_instance, exc)
            result.failed.append((sop_class, sop_instance, PROCESSING_FAILURE))
            continue
        sessions.extend(s for s in taken.sessions if s.pk not in {x.pk for x in sessions})
        result.stored.append((sop_class, sop_instance))
