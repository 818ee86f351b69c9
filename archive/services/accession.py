"""Accession IDs of subjects and sessions (`XNATLITE_S00001`, `XNATLITE_E00001`, xnat-spec.md §1.7)."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from archive.models import AccessionCounter, ImageSession, Subject
from xnatlite import layout


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
