"""multipart/related (RFC 2387) both ways, in constant memory: WADO-RS answers written file by file in
chunks, STOW-RS request bodies taken apart part by part straight to files.

The reader keeps at most one chunk plus a boundary's length in memory; each part's headers are capped,
and the body as a whole (XNATLITE_UPLOAD_MAX_BYTES). A body whose boundary never appears, a part that
never ends, or a body that stops before its closing delimiter is refused with InvalidInput: nothing of
it is handed on, because the caller ingests only after the whole body was read.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from xnatlite.errors import InvalidInput

CHUNK = 256 * 1024
HEADERS_MAX_BYTES = 16 * 1024
PREAMBLE_MAX_BYTES = 64 * 1024


class Readable(Protocol):
    """A request body (Django's HttpRequest reads like a file)."""

    def read(self, size: int = -1, /) -> bytes: ...


class BodyTooLarge(InvalidInput):
    """A request body beyond the upload limit (413)."""


def media_type_parameters(header: str) -> tuple[str, dict[str, str]]:
    """`type/subtype` in lower case and its parameters (names in lower case, quotes removed)."""
    media, *rest = header.split(";")
    found = {}
    for item in re.findall(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', ";" + ";".join(rest)):
        name, value = item
        found[name.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), found


# --- writing ----------------------------------------------------------------------------------------
def new_boundary() -> str:
    return uuid.uuid4().hex


def stream_parts(paths: Iterable[Path], boundary: str, content_type: str) -> Iterator[bytes]:
    """A multipart/related body of the files, each read in chunks; a file gone since is skipped."""
    head = f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
    for path in paths:
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below, after the last chunk
        except OSError:
            continue
        with source:
            yield head
            while chunk := source.read(CHUNK):
                yield chunk
            yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def stream_bytes(parts: Iterable[bytes], boundary: str, content_type: str) -> Iterator[bytes]:
    """A multipart/related body of values already in memory (bulk data, frames)."""
    for data in parts:
        yield f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


# --- reading ----------------------------------------------------------------------------------------
@dataclass
class Part:
    path: Path
    content_type: str


class _Reader:
    """A request body read in chunks, with a cap on the total."""

    def __init__(self, stream: Readable, max_bytes: int):
        self.stream, self.max_bytes, self.total = stream, max_bytes, 0
        self.buffer = b""
        self.ended = False

    def fill(self) -> bool:
        """Read one more chunk into the buffer; False once the body has ended."""
        if self.ended:
            return False
        chunk = self.stream.read(CHUNK)
        if not chunk:
            self.ended = True
            return False
        self.total += len(chunk)
        if self.total > self.max_bytes:
            raise BodyTooLarge(f"The request body is larger than {self.max_bytes} bytes")
        self.buffer += chunk
        return True


def read_parts(
    stream: Readable, boundary: str, folder: Path, *, max_bytes: int, max_parts: int
) -> list[Part]:
    """Every part of a multipart/related body, each saved as a file in `folder` (`part-00001`, ...)."""
    if not boundary or len(boundary) > 70:
        raise InvalidInput("The Content-Type has no usable boundary parameter (RFC 2046: 1 to 70 characters)")
    reader = _Reader(stream, max_bytes)
    first = f"--{boundary}".encode()
    delimiter = b"\r\n" + first
    # The preamble: anything before the first delimiter, which must come early.
    while (at := reader.buffer.find(first)) < 0:
        if len(reader.buffer) > PREAMBLE_MAX_BYTES or not reader.fill():
            raise InvalidInput("The body does not hold the boundary its Content-Type names")
    reader.buffer = reader.buffer[at + len(first) :]
    parts: list[Part] = []
    while True:
        while len(reader.buffer) < 2 and reader.fill():
            pass
        if reader.buffer.startswith(b"--"):
            return parts  # the closing delimiter; an epilogue is ignored
        while (end := reader.buffer.find(b"\r\n\r\n")) < 0:
            if len(reader.buffer) > HEADERS_MAX_BYTES:
                raise InvalidInput("A part's headers are too long")
            if not reader.fill():
                raise InvalidInput("The body ends inside a part's headers")
        headers = reader.buffer[:end].decode("latin-1")
        reader.buffer = reader.buffer[end + 4 :]
        content_type = ""
        for line in headers.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-type":
                content_type = value.strip()
        if len(parts) >= max_parts:
            raise InvalidInput(f"The body holds more than {max_parts} parts")
        path = folder / f"part-{len(parts) + 1:05d}"
        with open(path, "wb") as out:
            while (at := reader.buffer.find(delimiter)) < 0:
                keep = len(delimiter) - 1  # a delimiter may straddle two chunks
                if len(reader.buffer) > keep:
                    out.write(reader.buffer[:-keep])
                    reader.buffer = reader.buffer[-keep:]
                if not reader.fill():
                    raise InvalidInput("The body ends inside a part: its closing boundary never came")
            out.write(reader.buffer[:at])
        reader.buffer = reader.buffer[at + len(delimiter) :]
        parts.append(Part(path, content_type))
