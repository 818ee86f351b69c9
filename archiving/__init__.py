"""Archiving a prearchive session: validation (validation.py), the service and its ordering argument
(service.py), the build beside the final place (build.py), recovery after a crash (recovery.py), the
filesystem steps (disk.py) and the header check that spares rewriting (headers.py)."""

from archiving.recovery import recover_stuck_archives, reset_interrupted
from archiving.service import AUTO_ARCHIVE_ACTOR, Outcome, actor_from, actor_name, archive_now, run_archive
from archiving.validation import (
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
