"""Files and folders changed safely: locks, atomic renames and replacements, hard-linked copies, and
moving aside before deleting (the prearchive's operations, archiving and previews share them).

Locks are `flock`s on files under `cache/locks/`: the kernel drops them when their process dies, even
by SIGKILL, so a lock that can be taken means nobody is working on what it guards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from xnatlite import layout

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def locks_dir() -> Path:
    return layout.cache_root() / "locks"


@contextmanager
def flock(path: Path, *, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Hold an exclusive lock on `path` (created if needed); yields False if it was not had in time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    held = False
                    break
                time.sleep(0.1)
        yield held
    finally:
        os.close(fd)  # closing releases the lock


def session_lock_path(prearchive_session_id: int) -> Path:
    return locks_dir() / f"prearchive-{int(prearchive_session_id)}.lock"


def target_lock_path(project_id: str, label: str) -> Path:
    """One lock per archived session label (labels are unique without case in a project)."""
    return locks_dir() / f"session-{layout.check_label(project_id)}-{layout.check_label(label).lower()}.lock"


def is_locked(path: Path) -> bool:
    """Whether another process holds the lock right now."""
    if not path.exists():
        return False
    with flock(path) as held:
        return not held


def write_json(path: Path, data: dict) -> None:
    """Replace a small JSON file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- renames --------------------------------------------------------------------------------------
def _renameat2() -> Callable[..., int] | None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


_RENAMEAT2 = _renameat2()


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """renameat2(2) with flags; False when the system or filesystem does not support it."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def rename_new(src: Path, dst: Path) -> None:
    """Rename a folder to a name that must not exist yet (a new archived session), in one step."""
    if _rename2(src, dst, RENAME_NOREPLACE):
        return
    if dst.exists():  # without renameat2: check, then rename (the session's lock keeps others out)
        raise FileExistsError(errno.EEXIST, "already exists", str(dst))
    os.rename(src, dst)


def exchange(a: Path, b: Path) -> None:
    """Swap two folders in one atomic step (a merged session replaces the old one).

    Without renameat2 it takes two renames through `{b}.exchange`; recovery knows that name.
    """
    if _rename2(a, b, RENAME_EXCHANGE):
        return
    aside = b.with_name(b.name + ".exchange")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


# --- copies ---------------------------------------------------------------------------------------
def link_or_copy(src: Path, dst: Path) -> bool:
    """Hard-link `src` to `dst` (no bytes copied), or copy it when links are impossible; True if linked."""
    try:
        os.link(src, dst)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    shutil.copy2(src, dst)
    return False


def link_tree(src: Path, dst: Path) -> int:
    """Recreate the folder tree `src` at `dst` with hard links to its files; returns the file count."""
    count = 0
    for folder, _dirs, files in os.walk(src):
        relative = Path(folder).relative_to(src)
        target = dst / relative
        target.mkdir(parents=True, exist_ok=True)
        shutil.copymode(folder, target)
        for name in files:
            link_or_copy(Path(folder) / name, target / name)
            count += 1
    return count


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def move_aside(path: Path, where: Path) -> Path | None:
    """Move a file or folder to `where` (same filesystem), making parent folders; None if it is gone."""
    if not path.exists():
        return None
    where.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, where)
    return where
