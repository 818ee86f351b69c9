"""The receiver's spool on disk, under `{data root}/spool/` (prearchive/intake.py says what waits there):

receiving/   instances arriving, never acknowledged: removed when their association ends or dies
queue/       acknowledged: `{received ns}-{pid}-{n}[~{attempt}].dcm`, Part 10 files whose meta also
             names the sender and the receiver (the arrival)
work/{id}/   a worker's claimed batch, its journal and a lock the worker holds while it lives
quarantine/  instances that could not be processed, listed for site admins in Django admin
"""

from __future__ import annotations

import functools
from pathlib import Path

from prearchive import intake
from xnatlite import layout


@functools.lru_cache(maxsize=32)
def _made(root: str, name: str) -> Path:
    path = intake.spool_root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _folder(name: str) -> Path:
    """A spool folder, made once per process and data root."""
    return _made(str(layout.data_root()), name)


def receiving_dir() -> Path:
    return _folder("receiving")


def queue_dir() -> Path:
    return _folder("queue")


def work_root() -> Path:
    return _folder("work")


def quarantine_dir() -> Path:
    return _folder("quarantine")


def attempts(name: str) -> int:
    """How often processing a queued instance failed already, from its name (`...~2.dcm`)."""
    stem = name.removesuffix(".dcm")
    head, _, count = stem.rpartition("~")
    return int(count) if head and count.isdigit() else 0


def with_attempts(name: str, count: int) -> str:
    stem = name.removesuffix(".dcm").rpartition("~")[0] or name.removesuffix(".dcm")
    return f"{stem}~{count}.dcm"


def without_attempts(name: str) -> str:
    stem = name.removesuffix(".dcm")
    head, _, count = stem.rpartition("~")
    return f"{head}.dcm" if head and count.isdigit() else name
