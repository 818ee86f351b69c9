"""Downloads: sessions, chosen scans, resources and single files, as zips streamed with flat memory.

The zip is written by the standard library's zipfile into a file object whose writes are handed out
by a generator, one chunk at a time: nothing is seeked, nothing is held but the current chunk, and the
sizes and CRCs go into data descriptors after each member (Content-Length is unknown, so the response
is streamed). Members are stored, not deflated: DICOM pixel data hardly compresses and deflating
would cost more CPU than the bytes it saves on a local network.

Layout, as XNAT's default (xnat-rest-api.md §7), which pyxnat relies on (a `files` path component in
every member): `{session}/scans/{scan}-{type}/resources/{resource}/files/{name}` and
`{session}/resources/{resource}/files/{name}`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db.models import QuerySet

from archive.models import File, ImageSession, Resource, Scan
from xnatlite import layout

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One member of a zip: the name inside the zip and the file on disk."""

    name: str
    path: Path


class _Pipe:
    """A write-only, non-seekable file object whose written bytes the generator collects."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        if data:
            self.parts.append(bytes(data))
            self.offset += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks for the position to record member offsets
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def stream_zip(entries: Iterable[Entry]) -> Iterator[bytes]:
    """Yield a zip of the entries chunk by chunk; memory holds at most about one chunk."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for entry in entries:
            info = zipfile.ZipInfo.from_file(entry.path, arcname=entry.name)
            info.compress_type = zipfile.ZIP_STORED
            with open(entry.path, "rb") as src, archive.open(info, mode="w", force_zip64=True) as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()


def _zip_safe(text: str) -> str:
    return layout.clean_label(text) or "unknown"


def scan_folder(scan: Scan) -> str:
    """`{scanID}-{type}` as XNAT names a scan's folder in its zips."""
    return f"{scan.scan_id}-{_zip_safe(scan.type or scan.series_description or 'unknown')}"


def _files(qs: QuerySet[File]) -> QuerySet[File]:
    return qs.select_related("resource__scan__session", "resource__session").order_by(
        "resource__scan__sort_key", "resource__scan__scan_id", "resource__label", "name"
    )


def entry_name(file: File, session_label: str | None = None) -> str:
    """A file's member name in XNAT's zip layout."""
    resource = file.resource
    if resource.scan_id:
        scan = resource.scan
        label = session_label or scan.session.label
        return f"{label}/scans/{scan_folder(scan)}/resources/{resource.label}/files/{file.name}"
    if resource.session_id:
        label = session_label or resource.session.label
        return f"{label}/resources/{resource.label}/files/{file.name}"
    return f"{resource.label}/files/{file.name}"


def session_entries(
    session: ImageSession, *, scans: Iterable[Scan] | None = None, resources: Iterable[str] | None = None
) -> Iterator[Entry]:
    """The files of a session's scans (all, or the chosen ones), optionally only some resource labels."""
    qs = File.objects.filter(resource__scan__session=session)
    if scans is not None:
        qs = qs.filter(resource__scan__in=[s.pk for s in scans])
    if resources is not None:
        qs = qs.filter(resource__label__in=list(resources))
    for file in _files(qs).iterator(chunk_size=2000):
        yield Entry(entry_name(file, session.label), file.absolute_path)


def session_resource_entries(session: ImageSession) -> Iterator[Entry]:
    """The files of a session's own resources (RESOURCES/...)."""
    for file in _files(File.objects.filter(resource__session=session)).iterator(chunk_size=2000):
        yield Entry(entry_name(file, session.label), file.absolute_path)


def resource_entries(resource: Resource) -> Iterator[Entry]:
    """The files of one resource, as `{label}/files/{name}` (XNAT's resource zip)."""
    for file in File.objects.filter(resource=resource).order_by("name").iterator(chunk_size=2000):
        yield Entry(f"{resource.label}/files/{file.name}", file.absolute_path)


def file_entries(files: Iterable[File], *, session_label: str | None = None) -> Iterator[Entry]:
    for file in files:
        yield Entry(entry_name(file, session_label), file.absolute_path)


def read_chunks(path: Path, chunk: int = CHUNK) -> Iterator[bytes]:
    """A single file, streamed."""
    with open(path, "rb") as src:
        while data := src.read(chunk):
            yield data
