"""The folders of archived objects, changed together with their rows: moved aside before rows are
deleted (and back if they cannot be), renamed with the rows that name them."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr

from archive.models import File
from xnatlite import audit, disk, layout
from xnatlite.errors import ArchiveConflict
from xnatlite.permissions import User


def move_to_trash(path: Path) -> Path | None:
    """Move a file or folder to the cache's trash so rows can be deleted before the bytes are; where it
    went, or None if it was not there."""
    return disk.move_aside(path, layout.cache_root() / "deleted" / uuid.uuid4().hex)


@transaction.atomic
def delete_with_folders(obj: Any, folders: list[Path], action: str, by: User, **details: Any) -> None:
    """Delete rows and folders together: folders go aside first, come back if the rows cannot go."""
    moved: list[tuple[Path, Path]] = []
    try:
        for folder in folders:
            trash = move_to_trash(folder)
            if trash is not None:
                moved.append((folder, trash))
        audit.record(by, action, obj, **details)
        obj.delete()
    except BaseException:
        for folder, trash in reversed(moved):
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.replace(trash, folder)
        raise

    def remove_trash() -> None:
        for _, trash in moved:
            shutil.rmtree(trash, ignore_errors=True)

    transaction.on_commit(remove_trash)


def repoint_files(old: Path, new: Path) -> int:
    """Rewrite the stored paths of every file under `old` to lie under `new`."""
    old_prefix = layout.relative_path(old) + "/"
    new_prefix = layout.relative_path(new) + "/"
    return File.objects.filter(path__startswith=old_prefix).update(
        path=Concat(Value(new_prefix), Substr(F("path"), len(old_prefix) + 1))
    )


def relabel(obj: Any, label: str, old_folder: Path, new_folder: Path, action: str, by: User) -> Any:
    """Rename the folder and update rows in one transaction; the rename is undone if the rows fail."""
    renamed = False
    with transaction.atomic():
        old_label = obj.label
        obj.label = label
        obj.save(update_fields=["label", "updated_at"])
        if old_folder.exists():
            if new_folder.exists():
                raise ArchiveConflict(f"Folder for '{label}' already exists on disk")
            new_folder.parent.mkdir(parents=True, exist_ok=True)
            os.rename(old_folder, new_folder)  # atomic within one filesystem
            renamed = True
        try:
            repoint_files(old_folder, new_folder)
            audit.record(by, action, obj, old_label=old_label, label=label)
        except BaseException:
            if renamed:
                os.rename(new_folder, old_folder)
            raise
    return obj
