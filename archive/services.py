"""Every write to subjects, and the accession IDs of subjects and sessions; each checks permission
and audits. Projects and their users are written by xnatlite/projects.py.

Archiving from the prearchive, downloads and previews live in their own modules as they arrive.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from archive.models import AccessionCounter, ImageSession, Subject
from xnatlite import audit, layout, permissions
from xnatlite.errors import InvalidInput
from xnatlite.models import Project

log = logging.getLogger(__name__)


# --- accession IDs --------------------------------------------------------------------------------
def site_id_clean() -> str:
    """XNAT's cleaning of the site ID for accession numbers (xnat-spec.md §1.7)."""
    cleaned = "".join(c for c in settings.SITE_ID_PREFIX if c not in " \"'^").replace("-", "_")
    return layout.clean_label(cleaned) or "XNATLITE"


def next_accession_id(kind: str) -> str:
    """A new `{SITE}_S00001`/`{SITE}_E00001` ID: unique, never reused, safe under concurrency.

    The counter row is locked for the rest of the caller's transaction (SELECT ... FOR UPDATE on
    PostgreSQL; SQLite takes the write lock at BEGIN), so two creators never get the same number,
    and numbers of deleted objects are never handed out again because the counter only grows.
    """
    if kind not in ("S", "E"):
        raise ValueError(f"Unknown accession kind {kind!r}")
    prefix = f"{site_id_clean()}_{kind}"
    model = Subject if kind == "S" else ImageSession
    with transaction.atomic():
        try:
            with transaction.atomic():
                AccessionCounter.objects.get_or_create(prefix=prefix)
        except IntegrityError:  # another transaction created the row first; it exists now
            pass
        counter = AccessionCounter.objects.select_for_update().get(prefix=prefix)
        number = counter.last
        while True:  # skip numbers someone stored by other means (an import, an admin)
            number += 1
            candidate = f"{prefix}{number:05d}"
            if not model.objects.filter(accession_id=candidate).exists():
                break
        counter.last = number
        counter.save(update_fields=["last"])
    return candidate


# --- subjects and sessions ------------------------------------------------------------------------
SUBJECT_FIELDS = ("group", "src", "gender", "yob", "handedness", "note")


def find_subject(project: Project, label_or_id: str) -> Subject | None:
    """A subject by label (case-insensitive) or accession ID, as XNAT looks it up (xnat-spec.md §1.3)."""
    return (
        Subject.objects.filter(project=project, label__iexact=label_or_id).first()
        or Subject.objects.filter(project=project, accession_id=label_or_id).first()
    )


@transaction.atomic
def create_subject(project: Project, label: str, *, by: User | str, **fields: Any) -> Subject:
    """A new subject with a new accession ID (members and owners; system actors for archiving)."""
    if not isinstance(by, str):
        permissions.require(by, "create", project)
    layout.check_label(label, "Subject label")
    unknown = set(fields) - set(SUBJECT_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown subject field(s): {', '.join(sorted(unknown))}")
    if Subject.objects.filter(project=project, label__iexact=label).exists():
        raise InvalidInput(f"Subject '{label}' already exists in project {project.id}")
    subject = Subject.objects.create(
        project=project, label=label, accession_id=next_accession_id("S"), **fields
    )
    audit.record(by, "archive.subject.created", subject)
    return subject
