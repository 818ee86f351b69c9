"""The fields a PUT sets, from its query string (xnat-rest-api.md §6): xpaths such as
`xnat:subjectData/group` or `xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/gender`,
XNAT's short names (`group`), custom variables (`xnat:mrSessionData/fields/field[name=visit]/field`),
`NULL` to clear, and `label` to relabel."""

from __future__ import annotations

import re
from typing import Any

from archive.services.fields import SCAN_EDITABLE, SESSION_EDITABLE
from xnatlite.errors import InvalidInput

# Parameters that steer a request rather than set a field.
CONTROL = {
    "xsiType",
    "xsitype",
    "req_format",
    "format",
    "content",
    "tags",
    "event_reason",
    "event_type",
    "event_action",
    "event_id",
    "allowDataDeletion",
    "activate",
    "quarantine",
    "inbody",
    "overwrite",
    "extract",
    "removeFiles",
    "columns",
    "description",
    "name",
    "_",
}
# Field paths clients send -> our field names (xpath tails and XNAT's shortcut names).
SUBJECT_FIELDS = {
    "group": "group",
    "src": "src",
    "note": "note",
    "gender": "gender",
    "handedness": "handedness",
    "yob": "yob",
}
SESSION_FIELDS = {name: name for name in SESSION_EDITABLE}
SCAN_FIELDS = {name: name for name in SCAN_EDITABLE}
PROJECT_FIELDS = ("name", "description", "keywords")
DEMOGRAPHICS_RE = re.compile(r"demographics(\[[^\]]*\])?/")
CUSTOM_RE = re.compile(r"fields/field\[name=([^\]]+)\]/field")


def field_values(
    values: dict[str, str], mapping: dict[str, str], custom: dict[str, str] | None = None
) -> tuple[dict[str, Any], str | None]:
    """(fields for archive/editing.py, new label) from query parameters; `NULL` clears a field.
    Custom variables (`fields/field[name=visit]/field`) go into `custom` when given."""
    fields: dict[str, Any] = {}
    label = None
    for key, value in values.items():
        if key in CONTROL:
            continue
        path = key.split("/", 1)[1] if key.startswith("xnat:") and "/" in key else key
        path = DEMOGRAPHICS_RE.sub("", path)
        variable = CUSTOM_RE.fullmatch(path)
        if variable and custom is not None:
            custom[variable.group(1)] = value
            continue
        if path in ("label", "ID"):
            if path == "label":
                label = value
            continue
        if path not in mapping:
            raise InvalidInput(
                f"Field '{key}' cannot be set here; known: {', '.join(sorted(mapping))}, label"
            )
        fields[mapping[path]] = "" if value == "NULL" else value
    return fields, label


def xsi_type(values: dict[str, str], default: str) -> str:
    return values.get("xsiType") or values.get("xsitype") or default
