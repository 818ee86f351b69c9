"""Archiving a prearchive session: validation (validation.py), the service and its ordering argument
(service.py), the build beside the final place (build.py), recovery after a crash (recovery.py and
the journal, journals.py), and what it reads of the session it is handed (source.py). The
prearchive calls it (prearchive/handoff.py); it never calls the prearchive."""

from archiving import identity
from archiving.service import Outcome, archive, recover
from archiving.source import ArchiveSource, SourceFile
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
    final_labels,
    refusals,
    require_confirmed_labels,
    validate,
)

__all__ = [
    "APPEND",
    "CONFLICT",
    "DELETE",
    "FAIL",
    "NONE",
    "OVERWRITE_MODES",
    "UNASSIGNED_MESSAGE",
    "WARNING",
    "ArchiveRequest",
    "ArchiveSource",
    "Outcome",
    "SourceFile",
    "ValidationResult",
    "archive",
    "final_labels",
    "identity",
    "recover",
    "refusals",
    "require_confirmed_labels",
    "validate",
]
