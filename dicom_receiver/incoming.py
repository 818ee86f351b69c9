"""The receiving side of the spool: an instance written to `receiving/` as it arrives over an association,
queued (the moment it may be acknowledged) or discarded; leftovers of receiver processes that died.
"""

from __future__ import annotations

import itertools
import mmap
import os
import time
from pathlib import Path

from dicom_receiver.folders import queue_dir, receiving_dir
from dicomio import dimse

STALE_PARTIAL_SECONDS = 3600  # a partial instance nobody wrote to for this long: its process died
READ_TO_CHECK = 4 << 20  # instances up to this size are read whole for the receive-time check

_names = itertools.count(1)
_PID = os.getpid()  # in every spooled name: asked once


class IncomingInstance:
    """An instance arriving over an association (dicomio.acceptor.Instance).

    Written to `receiving/` as it arrives; `commit` moves it into the queue (the moment it may be
    acknowledged), `discard` removes it. A write error (a full disk) is kept and reported by `commit`,
    so the rest of the data set can still be read off the association before answering A700.
    """

    def __init__(self, meta: bytes, transfer_syntax: str):
        self.transfer_syntax, self.meta_length = transfer_syntax, len(meta)
        self.name = f"{time.time_ns():019d}-{_PID}-{next(_names)}.dcm"
        self.path = receiving_dir() / f"{self.name}.part"
        self.size, self.error, self.fd = 0, None, None
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self.error = exc
        self.write(meta)

    def write(self, data) -> None:
        self.size += len(data)
        if self.error is not None:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            self.error = exc

    def check(self) -> tuple[str, str]:
        """The data set's SOP Class and Instance UIDs; InvalidDicom if it is not a whole data set."""
        if self.error is not None:
            raise self.error
        if self.size <= READ_TO_CHECK:  # one read beats mapping a small file (four system calls)
            data = os.pread(self.fd, self.size, 0)
            return dimse.check_dataset(memoryview(data)[self.meta_length :], self.transfer_syntax)
        with mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ) as mapped:
            whole = memoryview(mapped)
            data = whole[self.meta_length :]
            try:
                return dimse.check_dataset(data, self.transfer_syntax)
            finally:  # released even while an exception's traceback still refers to them
                data.release()
                whole.release()

    def commit(self) -> Path:
        """Queue the instance: from now on it survives the death of any process. OSError if not."""
        if self.error is not None:
            raise self.error
        os.close(self.fd)
        self.fd = None
        target = queue_dir() / self.name
        os.rename(self.path, target)
        return target

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.path.unlink(missing_ok=True)


def remove_stale_partials(older_than: float = STALE_PARTIAL_SECONDS) -> int:
    """Delete partial instances left by receiver processes that died mid-transfer."""
    cutoff, removed = time.time() - older_than, 0
    for path in receiving_dir().glob("*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed
