"""Where data lives on disk: project IDs and labels in, folders out.

Nothing else builds prearchive or archive paths, and nothing reaches a path here without passing the
label check: labels become folder names (DESIGN.md "Data on disk", xnat-spec.md §3.1 and §7).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError

from xnatlite.errors import InvalidLabel

LABEL_MAX_LENGTH = 64
_LABEL_RE = re.compile(r"[A-Za-z0-9_-]+")
_NOT_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_TIMESTAMP_RE = re.compile(r"\d{8}_\d{6}(\d{3})?")
# File names inside a resource: one or more path segments, each a plain file name. Dots are allowed
# inside a name (`1.2.840.dcm`) but no segment may start with one, so `.` and `..` never pass.
_FILE_SEGMENT_RE = re.compile(r"[A-Za-z0-9_+=@,~-][A-Za-z0-9_.+=@,~ -]{0,254}")
FILE_NAME_MAX_LENGTH = 1024

ARCHIVE_ARC = "arc001"  # XNAT's `current_arc`; every project uses the default (xnat-spec.md §7)


def check_label(value: object, what: str = "Label") -> str:
    """Return the label if it can be a folder name, else raise InvalidLabel saying why."""
    text = "" if value is None else str(value)
    if not text:
        raise InvalidLabel(f"{what} must not be empty")
    if len(text) > LABEL_MAX_LENGTH:
        raise InvalidLabel(f"{what} '{text[:80]}' is longer than {LABEL_MAX_LENGTH} characters")
    if not _LABEL_RE.fullmatch(text):
        raise InvalidLabel(f"{what} '{text}' may only contain letters, digits, _ and -")
    return text


def is_label(value: object) -> bool:
    """Whether the value could be a label or project ID as it is."""
    text = "" if value is None else str(value)
    return 0 < len(text) <= LABEL_MAX_LENGTH and _LABEL_RE.fullmatch(text) is not None


def clean_label(value: object) -> str:
    """Turn any text into label characters the way XNAT's routing does: others become `_` (§5.4)."""
    text = "" if value is None else str(value).strip()
    return _NOT_LABEL_CHARS.sub("_", text)[:LABEL_MAX_LENGTH]


def validate_label(value: object) -> None:
    """Django validator for model and form fields that hold a label or project ID."""
    try:
        check_label(value)
    except InvalidLabel as exc:
        raise ValidationError(exc.message, code="invalid_label") from None


def check_timestamp(value: str) -> str:
    """A prearchive timestamp folder name, `yyyyMMdd_HHmmssSSS` (or the older form without ms)."""
    if not isinstance(value, str) or not _TIMESTAMP_RE.fullmatch(value):
        raise InvalidLabel(f"Timestamp '{value}' is not of the form yyyyMMdd_HHmmssSSS")
    return value


def check_file_name(value: str) -> str:
    """A file's path inside a resource (`a.dcm`, `notes/hello.txt`); refuses `..`, absolute paths."""
    text = "" if value is None else str(value)
    if not text:
        raise InvalidLabel("File name must not be empty")
    if len(text) > FILE_NAME_MAX_LENGTH:
        raise InvalidLabel(f"File name '{text[:80]}...' is longer than {FILE_NAME_MAX_LENGTH} characters")
    segments = text.split("/")
    for segment in segments:
        if not _FILE_SEGMENT_RE.fullmatch(segment) or segment != segment.strip():
            raise InvalidLabel(
                f"File name '{text}' is not allowed: each part may contain letters, digits, spaces and "
                "_ . + = @ , ~ -, must not start with a dot and must not be empty"
            )
    return text


# --- roots ----------------------------------------------------------------------------------------
def data_root() -> Path:
    return Path(settings.DATA_ROOT)


def prearchive_root() -> Path:
    return data_root() / "prearchive"


def archive_root() -> Path:
    return data_root() / "archive"


def cache_root() -> Path:
    return data_root() / "cache"


def build_root() -> Path:
    return data_root() / "build"


def relative_path(path: Path) -> str:
    """A path under the data root as stored in the database (POSIX, relative)."""
    return PurePosixPath(Path(path).resolve().relative_to(data_root().resolve())).as_posix()


def absolute_path(relative: str) -> Path:
    """The absolute path of a stored relative path, refusing anything that would leave the data root."""
    root = data_root().resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise InvalidLabel(f"Path '{relative}' leaves the data folder")
    return path


# --- prearchive -----------------------------------------------------------------------------------
def prearchive_session_dir(project_id: str | None, timestamp: str, folder: str) -> Path:
    """`prearchive/{project}/{timestamp}/{folder}`; Unassigned data (no project) has no project level."""
    base = (
        prearchive_root() if project_id is None else prearchive_root() / check_label(project_id, "Project ID")
    )
    return base / check_timestamp(timestamp) / check_label(folder, "Session folder")


def scan_folder_name(scan_id: str) -> str:
    """Scan IDs are labels too (`4`, `4-MR1`, `_5`)."""
    return check_label(scan_id, "Scan ID")


SCAN_WITHOUT_NUMBER = 1 << 30  # where scan IDs that start with no number go: after the others
_LEADING_NUMBER = re.compile(r"\d+")


def scan_sort_key(scan_id: str) -> int:
    """Where a scan goes in every list (archive, prearchive, UI, REST): by the number its ID starts with,
    2 before 10 and `4-MR1` with 4, IDs without one last; ties go by the ID (`scan_order`)."""
    number = _LEADING_NUMBER.match(scan_id or "")
    return min(int(number.group()), SCAN_WITHOUT_NUMBER - 1) if number else SCAN_WITHOUT_NUMBER


def scan_order(scan_id: str) -> tuple[int, str]:
    """The sort key of a scan ID, ties broken by the ID itself (Scan.Meta.ordering does the same)."""
    return scan_sort_key(scan_id), scan_id


# --- archive --------------------------------------------------------------------------------------
def archive_project_dir(project_id: str) -> Path:
    return archive_root() / check_label(project_id, "Project ID")


def archive_session_dir(project_id: str, session_label: str) -> Path:
    """`archive/{project}/arc001/{session}`: the folder a session appears in, complete, by rename."""
    return archive_project_dir(project_id) / ARCHIVE_ARC / check_label(session_label, "Session label")


def archive_scan_dir(project_id: str, session_label: str, scan_id: str) -> Path:
    return archive_session_dir(project_id, session_label) / "SCANS" / scan_folder_name(scan_id)


def scan_resource_dir(project_id: str, session_label: str, scan_id: str, resource_label: str) -> Path:
    """`.../SCANS/{scan}/{resource}`, e.g. DICOM or SNAPSHOTS."""
    return archive_scan_dir(project_id, session_label, scan_id) / check_label(
        resource_label, "Resource label"
    )


def session_resource_dir(project_id: str, session_label: str, resource_label: str) -> Path:
    return (
        archive_session_dir(project_id, session_label)
        / "RESOURCES"
        / check_label(resource_label, "Resource label")
    )


def subject_resource_dir(project_id: str, subject_label: str, resource_label: str) -> Path:
    return (
        archive_project_dir(project_id)
        / "subjects"
        / check_label(subject_label, "Subject label")
        / check_label(resource_label, "Resource label")
    )


def project_resource_dir(project_id: str, resource_label: str) -> Path:
    return archive_project_dir(project_id) / "resources" / check_label(resource_label, "Resource label")


def scan_catalog_name(scan_id: str) -> str:
    """XNAT's catalog file name for a scan's DICOM resource (xnat-spec.md §1.6)."""
    return f"scan_{scan_folder_name(scan_id)}_catalog.xml"
