"""Uploads on their way in: a private folder per upload, request bodies saved with a size limit, and
archives (.zip, .tar, .tar.gz/.tgz, nested) taken apart safely, member by member.

Every upload is hostile until proven otherwise. Members are never written under their own names: each
one is copied to a fixed name inside the upload's own temporary folder, handed to the caller (the
one ingestion path, DESIGN.md; a resource's files) and removed, so nothing can land outside that
folder whatever a member is called. Members named with `..` or an absolute path, links and devices are refused with a message
naming the member; the uncompressed total, the compression ratio and the member count are capped
(`XNATLITE_UPLOAD_MAX_BYTES`, `XNATLITE_UPLOAD_MAX_RATIO`, `XNATLITE_UPLOAD_MAX_MEMBERS`, nesting
`XNATLITE_UPLOAD_MAX_DEPTH`) so a zip bomb stops early. A member that is not DICOM is skipped and
counted with Ignore-Unparsable, else the upload stops with a 400 naming it; files ingested from earlier
members stay either way (XNAT's behaviour, xnat-spec.md §9.1).

DICOM uploads go through prearchive/uploads.py `ingest_upload`; resource uploads with `extract=true`
store members under checked names (archive/services/resources.py).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler

from xnatlite import layout
from xnatlite.errors import InvalidInput

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Files that archivers and operating systems leave in folders; never DICOM, never an error.
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "DICOMDIR"}
JUNK_PREFIXES = ("__MACOSX/",)
# A ratio is only judged once this much came out of a member: tiny files compress absurdly well.
RATIO_GRACE_BYTES = 1024 * 1024


class HostileArchive(InvalidInput):
    """An archive we refuse to unpack: unsafe member names, links, or a zip bomb."""


@dataclass
class Limits:
    max_bytes: int
    max_ratio: int
    max_members: int
    max_depth: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_bytes=settings.UPLOAD_MAX_BYTES,
            max_ratio=settings.UPLOAD_MAX_RATIO,
            max_members=settings.UPLOAD_MAX_MEMBERS,
            max_depth=settings.UPLOAD_MAX_DEPTH,
        )


@dataclass
class Member:
    """One regular file out of an archive: its name inside the archive and where its bytes are now."""

    name: str
    path: Path


@dataclass
class _Budget:
    """What the whole upload (all nesting levels) may still unpack."""

    limits: Limits
    archive_size: int
    members: int = 0
    total: int = 0

    def count_member(self, name: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise HostileArchive(f"The archive has more than {self.limits.max_members} files; refused")

    def add(self, name: str, nbytes: int) -> None:
        self.total += nbytes
        if self.total > self.limits.max_bytes:
            raise HostileArchive(
                f"The archive unpacks to more than {self.limits.max_bytes} bytes (at '{name}'); refused"
            )
        if self.total > RATIO_GRACE_BYTES and self.total > self.limits.max_ratio * max(self.archive_size, 1):
            raise HostileArchive(
                f"The archive unpacks to more than {self.limits.max_ratio} times its size (at '{name}'): "
                "a zip bomb? Refused"
            )


def check_member_name(name: str) -> str:
    """A member's name as a relative POSIX path; `..`, absolute and drive-letter names are refused."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":") or "\x00" in text:
        raise HostileArchive(f"Archive member '{name}' has an absolute path; refused")
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if ".." in parts:
        raise HostileArchive(f"Archive member '{name}' points outside the archive ('..'); refused")
    return "/".join(parts)


def is_junk(name: str) -> bool:
    return name.startswith(JUNK_PREFIXES) or PurePosixPath(name).name in JUNK_NAMES


def archive_kind(path: Path) -> str | None:
    """'zip', 'tar' or None, from the file's first bytes (names and content types can lie)."""
    with open(path, "rb") as f:
        head = f.read(264)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")) or head[257:262] == b"ustar":
        return "tar"
    return None


def _copy_limited(src: IO[bytes], dst: Path, name: str, budget: _Budget, compressed: int | None) -> None:
    """Copy a member's bytes to dst, stopping as soon as a cap is passed."""
    written = 0
    with open(dst, "wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
            written += len(chunk)
            budget.add(name, len(chunk))
            ratio_passed = written > budget.limits.max_ratio * max(compressed or 0, 1)
            if compressed is not None and written > RATIO_GRACE_BYTES and ratio_passed:
                raise HostileArchive(
                    f"Archive member '{name}' unpacks to more than {budget.limits.max_ratio} times "
                    "its compressed size: a zip bomb? Refused"
                )


def _zip_members(path: Path, workdir: Path, budget: _Budget, prefix: str) -> Iterator[tuple[str, Path]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"'{prefix or 'upload'}' is not a readable zip file: {exc}") from None
    with archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > budget.limits.max_bytes:
            raise HostileArchive(
                f"The archive declares {declared} bytes unpacked, more than {budget.limits.max_bytes}; refused"
            )
        for info in infos:
            name = prefix + check_member_name(info.filename)
            mode = info.external_attr >> 16
            if info.is_dir():
                continue
            if mode and not (stat.S_ISREG(mode) or stat.S_IFMT(mode) == 0):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                raise HostileArchive(f"Archive member '{name}' is {kind}; refused")
            budget.count_member(name)
            target = workdir / f"member-{uuid.uuid4().hex}"
            try:
                with archive.open(info) as src:
                    _copy_limited(src, target, name, budget, info.compress_size)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                target.unlink(missing_ok=True)
                raise InvalidInput(f"Archive member '{name}' cannot be read: {exc}") from None
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            yield name, target


def _tar_members(path: Path, workdir: Path, budget: _Budget, prefix: str) -> Iterator[tuple[str, Path]]:
    try:
        archive = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError) as exc:
        raise InvalidInput(f"'{prefix or 'upload'}' is not a readable tar file: {exc}") from None
    with archive:
        try:
            for info in archive:
                name = prefix + check_member_name(info.name)
                if info.isdir():
                    continue
                if not info.isreg():
                    kind = "a link" if (info.issym() or info.islnk()) else "a device or special file"
                    raise HostileArchive(f"Archive member '{name}' is {kind}; refused")
                budget.count_member(name)
                target = workdir / f"member-{uuid.uuid4().hex}"
                src = archive.extractfile(info)
                if src is None:  # only a regular file has bytes, and only those come this far
                    raise HostileArchive(f"Archive member '{name}' has no content; refused")
                try:
                    _copy_limited(src, target, name, budget, None)
                except BaseException:
                    target.unlink(missing_ok=True)
                    raise
                yield name, target
                # keep memory flat on archives with many members (TarFile keeps every member read)
                archive.members.clear()  # type: ignore[attr-defined]  # not in the stubs
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidInput(f"The tar archive cannot be read: {exc}") from None


def _members(path: Path, workdir: Path, budget: _Budget, depth: int, prefix: str = "") -> Iterator[Member]:
    kind = archive_kind(path)
    reader = _zip_members if kind == "zip" else _tar_members
    for name, extracted in reader(path, workdir, budget, prefix):
        try:
            if is_junk(name):
                continue
            if archive_kind(extracted) is not None:
                if depth >= budget.limits.max_depth:
                    raise HostileArchive(
                        f"Archive member '{name}' nests archives deeper than {budget.limits.max_depth}; refused"
                    )
                yield from _members(extracted, workdir, budget, depth + 1, prefix=name + "/")
            else:
                yield Member(name, extracted)
        finally:
            extracted.unlink(missing_ok=True)


# --- upload folders ------------------------------------------------------------------------------
# Every upload on its way in (request bodies, archive members, resource files before they are renamed
# into the archive) lives in its own folder `cache/uploads/{id}/`, beside the archive on the same
# filesystem so that the last rename is atomic, never inside the archive tree. Its process holds an
# flock on `cache/uploads/{id}.lock` for as long as it works there: the kernel drops the lock when the
# process ends, even by SIGKILL, so a lock that can be taken marks a folder nobody owns any more, which
# `sweep_upload_leftovers` removes (at start-up and with every idle-session sweep).
LEGACY_LEFTOVER_SECONDS = 24 * 3600  # folders of before the locks, and anything else unexplained


def uploads_root() -> Path:
    return layout.cache_root() / "uploads"


def _take_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path` (created if needed) that is still the file at `path`;
    None when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # a sweeper removed it between our open and our lock: take a new one


@contextmanager
def upload_folder() -> Iterator[Path]:
    """A private folder under `cache/uploads/` for one upload, locked while in use and removed afterwards
    whatever happens (by the sweep if this process is killed)."""
    root = uploads_root()
    root.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    lock = root / f"{name}.lock"
    fd = _take_lock(lock)
    assert fd is not None  # a fresh random name: nobody else knows it
    folder = root / name
    try:
        folder.mkdir()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.unlink(missing_ok=True)
        os.close(fd)


class _SweptUploadedFile(TemporaryUploadedFile):
    """A multipart file part on disk inside its own upload folder (`upload_folder`), so that a process
    killed while a form upload streams in leaves nothing the sweep does not find. Django closes the file
    when the request ends; closing it also removes its folder."""

    def __init__(
        self,
        name: str | None,
        content_type: str | None,
        size: int,
        charset: str | None,
        content_type_extra: dict | None = None,
    ) -> None:
        self._folder: AbstractContextManager[Path] | None = upload_folder()
        folder = self._folder.__enter__()
        file = tempfile.NamedTemporaryFile(suffix=".upload", dir=folder)  # noqa: SIM115 - closed in close()
        UploadedFile.__init__(self, file, name, content_type, size, charset, content_type_extra)

    def close(self) -> None:
        try:
            super().close()
        finally:
            folder, self._folder = self._folder, None
            if folder is not None:
                folder.__exit__(None, None, None)


class UploadFolderHandler(TemporaryFileUploadHandler):
    """Django's upload handler for files too big for memory, writing them under `cache/uploads/` (beside
    the archive, swept after a kill) rather than the system's temporary folder (settings.FILE_UPLOAD_HANDLERS)."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        FileUploadHandler.new_file(self, *args, **kwargs)
        self.file = _SweptUploadedFile(
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )


def sweep_upload_leftovers(now: float | None = None) -> int:
    """Remove upload folders no live process owns (their lock can be taken): what a killed process
    left. Returns how many went. Safe to run in any number of processes at once."""
    root = uploads_root()
    if not root.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for lock in root.glob("*.lock"):
        fd = _take_lock(lock)
        if fd is None:
            continue  # a live upload
        try:
            folder = root / lock.stem
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
                log.warning("removed the upload folder %s a dead process left", folder.name)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    for entry in root.iterdir():
        # Anything without a lock: a folder of an older version, or a lock's folder whose sweep died.
        if entry.suffix == ".lock" or (root / f"{entry.name}.lock").exists():
            continue
        try:
            old = now - entry.lstat().st_mtime > LEGACY_LEFTOVER_SECONDS
        except FileNotFoundError:
            continue
        if old:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
            log.warning("removed the upload leftover %s", entry.name)
    return removed


def save_stream(stream: BinaryIO, target: Path, *, max_bytes: int | None = None) -> int:
    """Copy a request body (or any stream) to a file in chunks; returns the byte count."""
    limit = settings.UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    size = 0
    with open(target, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise HostileArchive(f"The upload is larger than {limit} bytes; refused")
            out.write(chunk)
    return size


def iter_archive(path: Path, workdir: Path, limits: Limits | None = None) -> Iterator[Member]:
    """Every regular file in an archive on disk (nested archives opened), each extracted in turn to a
    fixed name inside `workdir` and removed once the caller moves on. Raises HostileArchive/InvalidInput."""
    if archive_kind(path) is None:
        raise InvalidInput("The upload is not a zip or tar archive")
    limits = limits or Limits.from_settings()
    budget = _Budget(limits, archive_size=path.stat().st_size)
    yield from _members(path, workdir, budget, depth=1)
