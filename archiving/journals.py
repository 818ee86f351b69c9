"""The archiving journal: one small JSON file per prearchive session under `cache/archiving/`, written
(atomically) before the archived folder is built and removed when everything after the commit is
done; it tells recovery where the build folder is and how to recognise it (its inode number) after a
crash (archiving/service.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from xnatlite import disk, layout


def journal_dir() -> Path:
    return layout.cache_root() / "archiving"


def path(prearchive_session_id: int) -> Path:
    return journal_dir() / f"{int(prearchive_session_id)}.json"


def write(prearchive_session_id: int, data: dict) -> None:
    disk.write_json(path(prearchive_session_id), data)


def read(prearchive_session_id: int) -> dict | None:
    try:
        return json.loads(path(prearchive_session_id).read_text())
    except FileNotFoundError:
        return None


def remove(prearchive_session_id: int) -> None:
    path(prearchive_session_id).unlink(missing_ok=True)
