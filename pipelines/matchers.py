"""The matchers of wrapper inputs, on the JSON XNAT's Container Service shows them (a subset of
Jayway JSONPath filters: `'DICOM' in @.resources[*].label`, `@.label == 'DICOM'`, `@.scan-type != 'X'`;
pipelines/documents.py refuses any other form when a command is saved)."""

from __future__ import annotations

from typing import Any

from archive.models import ImageSession, Resource, Scan
from pipelines.documents import MATCHER


def resource_json(resource: Resource) -> dict[str, Any]:
    return {
        "id": str(resource.pk),
        "label": resource.label,
        "format": resource.format,
        "content": resource.content,
    }


def scan_json(scan: Scan) -> dict[str, Any]:
    return {
        "id": scan.scan_id,
        "label": scan.scan_id,
        "scan-type": scan.type,
        "type": scan.type,
        "series-description": scan.series_description,
        "modality": scan.modality,
        "xsiType": scan.xsi_type,
        "resources": [resource_json(r) for r in scan.resources.all()],
    }


def session_json(session: ImageSession) -> dict[str, Any]:
    return {
        "id": session.accession_id,
        "label": session.label,
        "xsiType": session.xsi_type,
        "modality": session.modality,
        "project-id": session.project_id,
        "resources": [resource_json(r) for r in session.resources.all()],
    }


def matches(matcher: str | None, obj: dict[str, Any]) -> bool:
    """Whether `obj` passes `matcher` (no matcher: it does)."""
    if not matcher:
        return True
    found = MATCHER.match(matcher)
    if found is None:
        return False
    if found["list"]:
        items = obj.get(found["list"]) or []
        return any(
            str(item.get(found["item"], "")) == found["value"] for item in items if isinstance(item, dict)
        )
    equal = str(obj.get(found["field"], "")) == found["other"]
    return equal if found["op"] == "==" else not equal
