"""Changes to the descriptive fields of subjects, sessions and scans (members and owners).

The entities' update services (update_subject, update_session, update_scan) call `update_fields`. Only fields a person may edit are accepted: labels,
IDs, UIDs and anything that names a folder change through the entity's own service (relabel_subject, relabel_session). Each call
checks the `edit` permission, validates every value before writing any, saves only what changed and
records one audit event naming the changed fields (not their values: a note may hold anything).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db import models

from archive.models import ScanQuality
from xnatlite import audit, permissions
from xnatlite.errors import InvalidInput
from xnatlite.permissions import User

GENDERS = {"male": "male", "m": "male", "female": "female", "f": "female", "other": "other", "o": "other"}
GENDERS |= {"unknown": "unknown", "u": "unknown"}

HANDEDNESS = {"right": "right", "r": "right", "left": "left", "l": "left", "ambidextrous": "ambidextrous"}
HANDEDNESS |= {"a": "ambidextrous", "unknown": "unknown", "u": "unknown"}

SUBJECT_EDITABLE = ("group", "src", "gender", "yob", "handedness", "note")

SESSION_EDITABLE = (
    "visit_id",
    "session_type",
    "note",
    "date",
    "time",
    "scanner",
    "scanner_manufacturer",
    "scanner_model",
    "operator",
    "acquisition_site",
)

SCAN_EDITABLE = ("type", "series_description", "quality", "condition", "note")


def _text(value: Any, field: models.Field) -> str:
    text = "" if value is None else str(value).strip()
    if field.max_length and len(text) > field.max_length:
        raise InvalidInput(f"{field.verbose_name.capitalize()} may be at most {field.max_length} characters")
    return text


def _vocabulary(words: dict[str, str]) -> Callable[[Any, models.Field], str]:
    def clean(value: Any, field: models.Field) -> str:
        text = "" if value is None else str(value).strip().lower()
        if text and text not in words:
            allowed = ", ".join(sorted(set(words.values())))
            raise InvalidInput(f"{field.verbose_name.capitalize()} must be one of {allowed}, not '{value}'")
        return words.get(text, "")

    return clean


def _year(value: Any, field: models.Field) -> int | None:
    if value in (None, ""):
        return None
    this_year = datetime.date.today().year
    try:
        year = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"Year of birth must be a year like 1980, not '{value}'") from None
    if not 1850 <= year <= this_year:
        raise InvalidInput(f"Year of birth must be between 1850 and {this_year}, not {year}")
    return year


def _iso(kind: type[datetime.date] | type[datetime.time], form: str) -> Callable[[Any, models.Field], Any]:
    """A cleaner for dates or times written the ISO way (an object of the kind passes as it is)."""

    def clean(value: Any, field: models.Field) -> Any:
        if value in (None, ""):
            return None
        if isinstance(value, kind):
            return value
        try:
            return kind.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidInput(
                f"{field.verbose_name.capitalize()} must be written {form}, not '{value}'"
            ) from None

    return clean


def _quality(value: Any, field: models.Field) -> str:
    text = "" if value is None else str(value).strip().lower()
    if text not in ScanQuality.values:
        allowed = ", ".join(ScanQuality.values)
        raise InvalidInput(f"Quality must be one of {allowed}, not '{value}'")
    return text


# Field -> cleaner; a field not named here is plain text limited to its column's length.

CLEANERS: dict[str, Callable[[Any, models.Field], Any]] = {
    "gender": _vocabulary(GENDERS),
    "handedness": _vocabulary(HANDEDNESS),
    "yob": _year,
    "date": _iso(datetime.date, "YYYY-MM-DD"),
    "time": _iso(datetime.time, "HH:MM or HH:MM:SS"),
    "quality": _quality,
}


def update_fields(obj: models.Model, kind: str, editable: tuple[str, ...], by: User, fields: dict) -> Any:
    """Validate every value, then save the changed ones and audit them; nothing is written on error."""
    permissions.require(by, "edit", obj)
    unknown = sorted(set(fields) - set(editable))
    if unknown:
        raise InvalidInput(
            f"{kind.capitalize()} field(s) {', '.join(unknown)} cannot be changed here; "
            f"editable: {', '.join(editable)}"
        )
    changed = {}
    for name, value in fields.items():
        field = obj._meta.get_field(name)
        clean = CLEANERS.get(name, _text)(value, field)
        if getattr(obj, name) != clean:
            changed[name] = clean
    if changed:
        for name, value in changed.items():
            setattr(obj, name, value)
        obj.save(update_fields=[*changed, "updated_at"])
        audit.record(by, f"archive.{kind}.updated", obj, fields=sorted(changed))
    return obj


def check_fields(fields: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise InvalidInput(f"Unknown {what} field(s): {', '.join(sorted(unknown))}")
