"""Archiving a prearchive session: validation (validation.py), the service and its ordering argument
(service.py), and the filesystem steps it is made of (disk.py)."""

from archive.archiving.service import (
    AUTO_ARCHIVE_ACTOR,
    Outcome,
    actor_from,
    actor_name,
    archive_now,
    recover_stuck_archives,
    reset_interrupted,
    run_archive,
)
from archive.archiving.validation import (
    APPEND,
    CONFLICT,
    DELETE,
    FAIL,
    NONE,
    OVERWRITE_MODES,
    UNASSIGNED_MESSAGE,
    WARNING,
    ArchiveRequest,
    ValidationResult,
    refusals,
    validate,
)

__all__ = [
    "APPEND",
    "AUTO_ARCHIVE_ACTOR",
    "CONFLICT",
    "DELETE",
    "FAIL",
    "NONE",
    "OVERWRITE_MODES",
    "UNASSIGNED_MESSAGE",
    "WARNING",
    "ArchiveRequest",
    "Outcome",
    "ValidationResult",
    "actor_from",
    "actor_name",
    "archive_now",
    "recover_stuck_archives",
    "refusals",
    "reset_interrupted",
    "run_archive",
    "validate",
]
