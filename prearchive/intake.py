"""Instances a source acknowledged before they went through the one ingest path: the DICOM receiver
answers a C-STORE once the instance is safe in its spool (dicom_receiver/spool.py) and ingests it a
moment later. The idle builder builds nothing received before the oldest of them, so no session is
READY or archived while an instance sent before it went quiet still waits.

The spool lives under `{data root}/spool/`: `queue/` holds acknowledged instances and `work/{worker}/`
the batches workers claimed, each file named `{received ns}-...dcm` so that its age is in its name.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from xnatlite import layout


def spool_root() -> Path:
    return layout.data_root() / "spool"


def received_ns(name: str) -> int:
    """When a spooled instance was received, from its name."""
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def _pending_names() -> list[str]:
    root = spool_root()
    names = [n for n in _listdir(root / "queue") if n.endswith(".dcm")]
    for worker in _listdir(root / "work"):
        names.extend(n for n in _listdir(root / "work" / worker) if n.endswith(".dcm"))
    return names


def pending_since() -> float | None:
    """When the oldest instance still waiting in the spool (queued or in a batch) was received, as a
    Unix time; None when nothing waits. The idle builder builds nothing received before that."""
    names = _pending_names()
    if not names:
        return None
    return min(received_ns(n) for n in names) / 1e9


def pending_count() -> int:
    return len(_pending_names())


def wait_until_processed(received_before: float, timeout: float) -> bool:
    """Wait until every instance received before `received_before` (Unix time) is processed."""
    deadline = time.monotonic() + timeout
    while True:
        oldest = pending_since()
        if oldest is None or oldest >= received_before:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
