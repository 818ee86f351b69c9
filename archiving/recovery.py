"""Ending an archive that stopped: undoing it while the prearchive row exists, finishing its clean-up
once the commit went through (archiving/service.py explains why that is always possible)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from archive.models import ImageSession
from archiving import journals
from xnatlite import disk, layout

log = logging.getLogger(__name__)

DICOM = "DICOM"


def undo_after_failed_commit(prearchive_session_id: int, still_in_prearchive: Callable[[], bool]) -> None:
    """The COMMIT failed after the rename: put the folders back if the database kept the old state."""
    try:
        committed = not still_in_prearchive()
    except Exception:
        log.exception("cannot tell whether archiving %s committed; recovery will", prearchive_session_id)
        return
    if not committed:
        journal = journals.read(prearchive_session_id)
        if journal is not None:
            recover_journal(prearchive_session_id, journal, row_exists=True)


def recover_journal(prearchive_session_id: int, journal: dict, *, row_exists: bool) -> ImageSession | None:
    """End a run that stopped (the caller holds the session's lock). While the prearchive row exists
    nothing was committed: undo the rename if it happened and delete the build folder. Once the row is
    gone the archive is complete: finish the clean-up and return the archived session."""
    if "build" not in journal:  # the run stopped before building anything
        if row_exists:
            journals.remove(prearchive_session_id)
        return None
    build, final = Path(journal["build"]), Path(journal["final"])
    swapped = journal.get("build_inode") is not None and disk.inode(final) == journal["build_inode"]
    if row_exists:
        aside = final.with_name(final.name + ".exchange")
        if swapped and journal.get("merge"):
            if build.exists():
                disk.exchange(build, final)  # the old tree back into place
            elif aside.exists():
                os.rename(final, build)
                os.rename(aside, final)
        elif swapped:
            os.rename(final, build)
        elif aside.exists() and not final.exists():
            os.rename(aside, final)
        disk.remove_tree(build)
        journals.remove(prearchive_session_id)
        log.warning("archiving prearchive session %s was interrupted; undone", prearchive_session_id)
        return None
    if not swapped:
        log.error(
            "archive of prearchive session %s committed but %s is not the build", prearchive_session_id, final
        )
    finish(journal)
    journals.remove(prearchive_session_id)
    return ImageSession.objects.filter(project_id=journal["project"], label__iexact=journal["label"]).first()


def finish(journal: dict) -> None:
    """Step 4 after a commit: back up what a merge replaced, drop the old tree and the prearchive copy."""
    if not journal.get("build"):
        return
    token = journal["token"]
    build = Path(journal["build"])
    if journal.get("merge") and build.exists() and disk.inode(build) != journal.get("build_inode"):
        backup = layout.cache_root() / "merge" / journal["project"] / journal["label"] / token
        for relative in [*journal.get("replaced", []), *journal.get("catalogs", [])]:
            disk.move_aside(build / relative, backup / relative)
        disk.remove_tree(build)
    prearchive = Path(journal["prearchive"])
    trash = layout.cache_root() / "archived" / token
    if disk.move_aside(prearchive, trash) is not None:
        leftovers = [
            os.path.join(folder, name)
            for folder, _dirs, names in os.walk(trash)
            for name in names
            if not (name.endswith(".dcm") and folder.endswith(f"/{DICOM}") and "/SCANS/" in folder)
        ]
        if leftovers:
            log.warning("%d files of %s were not DICOM; kept in %s", len(leftovers), prearchive, trash)
        else:
            disk.remove_tree(trash)
        try:
            prearchive.parent.rmdir()  # the timestamp folder, when this was its only session
        except OSError:
            pass
