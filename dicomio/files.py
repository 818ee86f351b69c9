"""One DICOM instance on disk: read it (fast for the common case, `part10.py`), read its values,
encode it as pydicom would and write it atomically, its pixel data copied file to file."""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import os
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomio import inflation, part10, transfer_syntaxes
from dicomio.elements import LONG_VRS
from dicomio.elements import UNDEFINED_LENGTH as _UNDEFINED
from dicomio.errors import InvalidDicom

# File meta elements describing how an instance reached the receiver's spool (dicomio/dimse.py):
# they are not kept in the stored file, whose meta stays what XNAT writes.
ARRIVAL_META = (0x00020017, 0x00020018, 0x00020026, 0x00020027, 0x00020028)
_LONG_VRS = frozenset(vr.decode() for vr in LONG_VRS)  # as pydicom names a VR: text
DEFLATED_SYNTAXES = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95")
# Values longer than this stay in the file they were read from until written (read_instance).
DEFER_BYTES = 16 << 10


# --- reading --------------------------------------------------------------------------------------
def read_instance(source: Path | str | BinaryIO) -> Dataset:
    """Read a DICOM instance (Part 10, or a bare dataset without meta); InvalidDicom if it is not one.

    From a file, values longer than DEFER_BYTES (the pixel data) are not read: they stay in the file,
    and `write_instance` has the kernel copy them across, so an instance is never whole in memory.
    """
    try:
        on_disk = isinstance(source, (str, Path))
        ds = part10.read(source, DEFER_BYTES) if on_disk else None  # type: ignore[arg-type]  # the common case, fast
        if ds is None:
            inflation.check_deflated(source)  # before pydicom inflates a deflated data set whole
            ds = pydicom.dcmread(source, force=True, defer_size=DEFER_BYTES if on_disk else None)
        if on_disk and ds.file_meta.get("TransferSyntaxUID") in DEFLATED_SYNTAXES:
            ds = pydicom.dcmread(source, force=True)  # deferred values would point into the inflated copy
            on_disk = False
        transfer_syntaxes.check_readable(ds)
        if not ds._dict:
            raise InvalidDicom("The file holds no DICOM data elements")
        last = ds._dict[next(reversed(ds._dict))]  # type: ignore[arg-type]  # the last element read
        # pydicom stops quietly at the end of the data; a last element shorter than it says means
        # the file was cut off (an aborted transfer) and must not be stored as if complete.
        value, length = getattr(last, "value", None), getattr(last, "length", 0xFFFFFFFF)
        if length != 0xFFFFFFFF:
            if isinstance(value, bytes):
                present = len(value)
            elif value is None and on_disk:  # deferred: what the file still holds
                present = max(0, os.stat(source).st_size - last.value_tell)  # type: ignore[arg-type, union-attr]
            else:
                present = length
            if present < length:
                raise InvalidDicom(
                    f"The file is truncated: {last.tag} declares {length} bytes, has {present}"
                )
        for tag in (0x00080016, 0x00080018):
            elem = ds._dict.get(tag)  # type: ignore[call-overload]  # keyed by BaseTag, an int: an int finds it
            if isinstance(elem, RawDataElement) and elem.VR != "UI":
                ds[tag]  # converted: an implicit or UN element gets its VR, as the stored file will
        # an explicit UI element is read from its raw bytes (converting one cost 10 us)
        sop_class_uid, sop_instance_uid = header_text(ds, 0x00080016), header_text(ds, 0x00080018)
    except InvalidDicom:
        raise
    except (InvalidDicomError, Exception) as exc:  # pydicom signals garbage with many exception types
        raise InvalidDicom(f"Not a readable DICOM file: {exc}") from exc
    if not sop_class_uid or not sop_instance_uid:
        raise InvalidDicom("The object lacks its SOP Class UID or SOP Instance UID")
    return ds


# --- reading values ---------------------------------------------------------------------------
def _single_byte_text(ds: Dataset) -> bool:
    """Whether the instance's text is ASCII or Latin-1 (no Specific Character Set, or ISO_IR 6/100)."""
    elem = ds._dict.get(0x00080005)  # type: ignore[call-overload]  # keyed by BaseTag, an int: an int finds it
    if elem is None:
        return True
    value = elem.value.decode("latin-1") if isinstance(elem.value, bytes) else elem.value
    return str(value or "").strip() in ("", "ISO_IR 6", "ISO_IR 100")


def header_text(ds: Dataset, tag: int) -> str:
    """A top-level element's value as text, stripped ('' when absent or empty).

    A plain raw value (one value, ASCII or Latin-1) is decoded from its bytes; building pydicom's
    DataElement for each of the dozen values ingest reads was a tenth of the time spent per instance.
    """
    elem = ds._dict.get(tag)  # type: ignore[call-overload]  # keyed by BaseTag, an int: an int finds it
    if elem is None:
        return ""
    raw = isinstance(elem, RawDataElement) and isinstance(elem.value, bytes)
    if raw and b"\\" not in elem.value and _single_byte_text(ds):
        return elem.value.decode("latin-1").strip("\0 ")
    value = ds[tag].value
    if value is None or elem.VR == "SQ":
        return ""
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def dicom_date(value) -> date | None:
    """A DA value (its first 8 characters) as a date; None when it is not one."""
    try:
        return datetime.strptime(str(value or "").strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def dicom_time(value) -> time | None:
    """A TM value (to the second) as a time; None when it is not one."""
    text = str(value or "").strip().split(".")[0]
    for fmt in ("%H%M%S", "%H%M", "%H"):
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    return None


# --- writing --------------------------------------------------------------------------------------
def prepare_meta(ds: Dataset, source_ae: str = "") -> None:
    """A complete file meta header (bare datasets get one), naming the sender like XNAT does."""
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    if 0x00020010 not in meta._dict:
        meta.TransferSyntaxUID = {
            (True, True): ImplicitVRLittleEndian,
            (False, True): ExplicitVRLittleEndian,
            (False, False): ExplicitVRBigEndian,
        }.get(tuple(ds.original_encoding), ExplicitVRLittleEndian)  # type: ignore[arg-type]  # (None, None): not read
    # by tag, not keyword: pydicom's keyword lookups were a tenth of the time spent on an instance
    elements = [
        DataElement(0x00020002, "UI", header_text(ds, 0x00080016)),
        DataElement(0x00020003, "UI", header_text(ds, 0x00080018)),
    ]
    if source_ae:
        elements.append(DataElement(0x00020016, "AE", source_ae.strip()))
    for element in elements:
        meta._dict[element.tag] = element
    for tag in ARRIVAL_META:
        meta._dict.pop(tag, None)  # type: ignore[call-overload]  # keyed by BaseTag, an int: an int finds it
    ds.file_meta = meta


_NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_ASCII_VRS = frozenset({"AE", "AS", "CS", "UI", "UR", "DA", "DT", "TM"})
_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT"})
_LUT_DESCRIPTORS = frozenset({0x00281101, 0x00281102, 0x00281103, 0x00283002})  # pydicom writes them apart
_DEFAULT_CHARSETS = (None, "", "ISO_IR 6", "ISO 2022 IR 6")


def _value_bytes(elem: DataElement, little: bool, default_charset: bool) -> bytes | None:
    """The encoded value of a DataElement of a common kind, exactly as pydicom's writers encode it;
    None for the kinds left to pydicom (sequences, person names, other character sets...)."""
    vr, value = elem.VR, elem.value
    if value is None or value == "" or (isinstance(value, (list, MultiValue)) and not len(value)):
        return b""
    many = isinstance(value, (list, MultiValue))
    if vr in _NUMBER_FORMATS:
        if elem.tag in _LUT_DESCRIPTORS:
            return None
        values = list(value) if many else [value]
        return struct.pack(f"{'<' if little else '>'}{len(values)}{_NUMBER_FORMATS[vr]}", *values)
    if vr in ("DS", "IS"):
        text = "\\".join(getattr(v, "original_string", None) or str(v) for v in (value if many else [value]))
        data = text.encode("latin-1")
        return data + b" " if len(data) % 2 else data
    if vr in ("OB", "OW", "UN") and isinstance(value, bytes):
        return value + b"\0" if len(value) % 2 and vr == "OB" else value
    if vr in _ASCII_VRS or (vr in _TEXT_VRS and default_charset):
        values = list(value) if many else [value]
        if not all(isinstance(v, str) and v.isascii() for v in values):
            return None
        data = "\\".join(values).encode("ascii")
        return data + (b"\0" if vr == "UI" else b" ") if len(data) % 2 else data
    return None


def _write_element(write, tag: int, vr: str, length: int, implicit: bool, structs) -> None:
    tag_struct, short_length, long_length = structs
    write(tag_struct.pack(tag >> 16, tag & 0xFFFF))
    if implicit:
        write(long_length.pack(length))
    elif vr in _LONG_VRS:
        write(vr.encode() + b"\0\0" + long_length.pack(length))
    else:
        write(vr.encode() + short_length.pack(length))


@dataclass(frozen=True)
class _Span:
    """A value left in the source file: `length` bytes at `offset`."""

    offset: int
    length: int


class _Parts:
    """An encoded instance as bytes and spans of its source file (deferred values), in order."""

    def __init__(self, implicit: bool, little: bool):
        self.implicit, self.little = implicit, little
        self.pieces: list[bytes | _Span] = []
        self.out = self._buffer()

    def _buffer(self) -> DicomBytesIO:
        buffer = DicomBytesIO()
        buffer.is_implicit_VR, buffer.is_little_endian = self.implicit, self.little
        return buffer

    def span(self, offset: int, length: int) -> None:
        self.pieces.append(self.out.getvalue())
        self.pieces.append(_Span(offset, length))
        self.out = self._buffer()

    def finish(self) -> list[bytes | _Span]:
        self.pieces.append(self.out.getvalue())
        return [piece for piece in self.pieces if piece]


def _encode_elements(
    parts: _Parts, elements: Mapping, ds: Dataset, implicit: bool, little: bool, charset
) -> None:
    """Write elements in tag order: raw ones as read (deferred ones as spans of the source file),
    common kinds by `_value_bytes`, others by pydicom."""
    structs = (
        struct.Struct("<HH" if little else ">HH"),
        struct.Struct("<H" if little else ">H"),
        struct.Struct("<I" if little else ">I"),
    )
    delimiter = structs[0].pack(0xFFFE, 0xE0DD) + b"\0\0\0\0"
    default_charset = charset in _DEFAULT_CHARSETS
    for tag in sorted(elements):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths are not written (PS3.5 7.2), as pydicom does
        out = parts.out
        write = out.write
        elem = elements[tag]
        if isinstance(elem, RawDataElement):
            vr = elem.VR
            if elem.value is None and elem.length not in (0, _UNDEFINED) and (implicit or vr in _LONG_VRS):
                _write_element(write, tag, vr, elem.length, implicit, structs)  # type: ignore[arg-type]  # no VR: implicit
                parts.span(elem.value_tell, elem.length)
                continue
            value = elem.value if isinstance(elem.value, bytes) else None
        else:
            plain = elem.VR != "SQ" and not elem.is_undefined_length and not elem.is_buffered
            value = _value_bytes(elem, little, default_charset) if plain else None
            vr = elem.VR
        if value is None or (not implicit and (vr is None or len(vr) != 2)):
            write_data_element(out, ds[tag], charset or "iso8859")
            continue
        undefined = isinstance(elem, RawDataElement) and elem.length == _UNDEFINED
        if not undefined and not implicit and vr not in _LONG_VRS and len(value) > 0xFFFF:
            write_data_element(out, ds[tag], charset or "iso8859")  # pydicom writes it as UN, with a warning
            continue
        _write_element(write, tag, vr, _UNDEFINED if undefined else len(value), implicit, structs)  # type: ignore[arg-type]  # no VR: implicit
        write(value)
        if undefined:
            write(delimiter)


def _encode_meta(out: DicomBytesIO, meta: FileMetaDataset) -> None:
    """The group 0002 header as `write_file_meta_info(enforce_standard=True)` writes it."""
    elements = meta._dict

    def empty(tag: int) -> bool:
        elem = elements.get(tag)  # type: ignore[call-overload]  # keyed by BaseTag, an int: an int finds it
        return elem is None or (not elem.length if isinstance(elem, RawDataElement) else elem.is_empty)

    if empty(0x00020001):
        meta.FileMetaInformationVersion = b"\0\1"
    if empty(0x00020012):
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    if 0x00020013 not in elements:
        meta.ImplementationVersionName = f"PYDICOM {'.'.join(pydicom.__version_info__)}"
    for tag, keyword in (
        (0x00020002, "Media Storage SOP Class UID"),
        (0x00020003, "Media Storage SOP Instance UID"),
        (0x00020010, "Transfer Syntax UID"),
    ):
        if empty(tag):
            raise InvalidDicom(f"The file meta lacks its {keyword}")
    body = _Parts(False, True)
    _encode_elements(
        body, {tag: elem for tag, elem in elements.items() if tag != 0x00020000}, meta, False, True, None
    )
    data = b"".join(body.finish())  # type: ignore[arg-type]  # no spans: a meta is never deferred
    out.write(struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(data)))
    out.write(data)


def encode_pieces(ds: Dataset) -> list[bytes | _Span]:
    """The instance as a Part 10 file: the bytes `pydicom.dcmwrite(enforce_file_format=True)` writes,
    in a third of its time for an MR instance, as pieces: bytes, and spans of the file it was read from
    for the values not read (`read_instance`).

    Elements the site script did not touch are still pydicom's raw elements: they are copied as read.
    Elements of the common kinds are encoded here, the rest (sequences, person names...) by pydicom.
    """
    transfer_syntax = ds.file_meta.TransferSyntaxUID
    encoding = (transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian)
    if (
        transfer_syntax.is_deflated
        or encoding != tuple(ds.original_encoding)
        or ds.original_character_set != ds._character_set
    ):
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)  # reads deferred values itself
        return [buffer.getvalue()]
    implicit, little = encoding
    parts = _Parts(implicit, little)
    parts.out.write(ds.preamble or b"\0" * 128)
    parts.out.write(b"DICM")
    _encode_meta(parts.out, ds.file_meta)
    _encode_elements(parts, ds._dict, ds, implicit, little, ds.get("SpecificCharacterSet", None))
    return parts.finish()


def encode_instance(ds: Dataset) -> bytes:
    """The instance as Part 10 bytes (see `encode_pieces`), deferred values read from its file."""
    pieces = encode_pieces(ds)
    if not any(isinstance(piece, _Span) for piece in pieces):
        return b"".join(pieces)  # type: ignore[arg-type]  # no spans, as just seen
    with open(ds.filename, "rb") as source:
        out = []
        for piece in pieces:
            if isinstance(piece, _Span):
                source.seek(piece.offset)
                piece = source.read(piece.length)
            out.append(piece)
    return b"".join(out)


_temporary_names = itertools.count(1)
_known_folders: set[Path] = set()
_empty_files = threading.local()


def reuse_empty_files(take: Callable[[], Path | None] | None) -> None:
    """Have `write_instance`, in this thread, write into an existing empty file (`take()`: its path, on
    the data root's file system, or None when there is none) and rename it into place, instead of
    creating a file: creating one is the dearest system call on some disks (the spool worker's blank
    files, dicom_receiver/spool.py). None turns it off."""
    _empty_files.take = take


def _create_temporary(target: Path, *, reuse: bool = True) -> tuple[int, Path]:
    """A file to write `target` into before renaming it there: an empty one to reuse
    (`reuse_empty_files`), else a new one beside it (its folder is created when missing)."""
    if target.parent not in _known_folders:
        target.parent.mkdir(parents=True, exist_ok=True)
        if len(_known_folders) > 4096:
            _known_folders.clear()
        _known_folders.add(target.parent)
    take = getattr(_empty_files, "take", None) if reuse else None
    empty = take() if take is not None else None
    if empty is not None:
        # Not opened with O_TRUNC: on ext4 a file truncated to nothing is written back when it is
        # closed (auto_da_alloc), which cost 30-60 us per file; the spool empties its blanks so that
        # this is paid before (dicom_receiver/spool.py `_Blanks.keep`).
        return os.open(empty, os.O_WRONLY | os.O_CLOEXEC), empty
    temporary = target.parent / f".{target.name}.{os.getpid()}.{next(_temporary_names)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, 0o644)
    except FileNotFoundError:  # the folder went away since (a session deleted and received again)
        _known_folders.discard(target.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, flags, 0o644)
    return fd, temporary


def write_instance(ds: Dataset, target: Path) -> tuple[int, str]:
    """Write the dataset to `target` atomically (into a temporary file, then renamed): (size, md5).

    The header is encoded in memory and written in one call; values left in the file the instance
    was read from (its pixel data) are copied across in chunks (`write_pieces`), never whole in memory.
    """
    pieces = encode_pieces(ds)
    try:
        return _write_file(pieces, getattr(ds, "filename", None), target, reuse=True)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # a reused empty file on another file system than the target (a folder mounted apart)
        return _write_file(pieces, getattr(ds, "filename", None), target, reuse=False)


def _write_file(pieces: list, source: str | None, target: Path, *, reuse: bool) -> tuple[int, str]:
    fd, temporary = _create_temporary(target, reuse=reuse)
    try:
        try:
            os.fchmod(fd, 0o644)
            size, md5 = write_pieces(fd, pieces, source)
            if os.fstat(fd).st_size != size:  # a reused file that was not empty after all
                os.ftruncate(fd, size)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return size, md5


def write_pieces(fd: int, pieces: list[bytes | _Span], source: str | None) -> tuple[int, str]:
    """Write `encode_pieces` into an open file: bytes as they are, spans read from `source` (the file
    the instance was read from) in chunks through one buffer per thread; (size, md5).
    Reading, hashing and writing release the GIL, so another thread can encode meanwhile
    (archiving)."""
    digest, size = hashlib.md5(usedforsecurity=False), 0
    source_fd = None
    try:
        for piece in pieces:
            if isinstance(piece, _Span):
                if source_fd is None:
                    source_fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)  # type: ignore[arg-type]  # spans have a source
                _copy_span(source_fd, fd, piece, digest)
                size += piece.length
            else:
                _write_all(fd, piece)
                digest.update(piece)
                size += len(piece)
    finally:
        if source_fd is not None:
            os.close(source_fd)
    return size, digest.hexdigest()


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


COPY_CHUNK = 1 << 20
_copy_buffers = threading.local()


def _copy_span(source: int, fd: int, span: _Span, digest) -> None:
    """Append `span` of `source` to `fd`, hashing it on the way, a chunk at a time through a buffer
    kept by the thread: a 512 kB value costs two copies and no page faults (the kernel's copy and
    hashing a mapping of the source cost a fault per page, and 10-20 % more in all)."""
    buffer = getattr(_copy_buffers, "view", None)
    if buffer is None:
        buffer = _copy_buffers.view = memoryview(bytearray(COPY_CHUNK))
    offset, left = span.offset, span.length
    while left:
        count = os.preadv(source, [buffer[: min(left, COPY_CHUNK)]], offset)
        if not count:
            raise InvalidDicom("The file is truncated")
        chunk = buffer[:count]
        digest.update(chunk)
        _write_all(fd, chunk)
        offset += count
        left -= count
