"""Waiting in tests: on a condition, never for a fixed time.

A test that sleeps "long enough" for another thread or process to get going fails on a loaded machine
and wastes time on an idle one. `wait_for` polls the condition itself with short pauses; its timeout is
only a safety net, generous so that a busy machine (two cores, several suites at once) does not trip it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

TIMEOUT = 120.0  # seconds: a bound for a hung test, not an expectation of how long anything takes


def wait_for(
    condition: Callable[[], T],
    *,
    what: str,
    timeout: float = TIMEOUT,
    poll: float = 0.01,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> T:
    """Call `condition` until it returns something true, and return that. Fail after `timeout` seconds,
    or as soon as `process` (one the condition depends on) has exited, naming `what` and showing the end
    of `log`."""
    deadline = time.monotonic() + timeout
    while True:
        exited = process is not None and process.poll() is not None  # before the last look
        value = condition()
        if value:
            return value
        if exited:
            problem = f"the process exited while waiting for {what}"
            break
        if time.monotonic() > deadline:
            problem = f"timed out after {timeout:.0f} s waiting for {what}"
            break
        time.sleep(poll)
    if log is not None and log.exists():
        problem += ":\n" + log.read_text(errors="replace")[-5000:]
    raise AssertionError(problem)
