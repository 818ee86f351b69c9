"""One DICOM instance as ingest handles it: read it, name it as XNAT does, encode and write it
atomically, and describe it for its PrearchiveFile row (xnat-spec.md §3.1, §5.3, §5.6)."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import pydicom
from django.utils import timezone
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from archive import layout
from xnatlite.errors import InvalidDicom

# File meta elements describing how an instance reached the receiver's spool (dicom_receiver/dimse.py):
# they are not kept in the stored file, whose meta stays what XNAT writes.
ARRIVAL_META = (0x00020017, 0x00020018, 0x00020026, 0x00020027, 0x00020028)
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
_UNDEFINED = 0xFFFFFFFF


# --- reading --------------------------------------------------------------------------------------
def read_instance(source: Path | str | BinaryIO) -> Dataset:
    """Read a DICOM instance (Part 10, or a bare dataset without meta); InvalidDicom if it is not one."""
    try:
        ds = pydicom.dcmread(source, force=True)
        if not len(ds):
            raise InvalidDicom("The file holds no DICOM data elements")
        last = ds.get_item(list(ds.keys())[-1])
        # pydicom stops quietly at the end of the data; a last element shorter than it says means
        # the file was cut off (an aborted transfer) and must not be stored as if complete.
        value, length = getattr(last, "value", None), getattr(last, "length", 0xFFFFFFFF)
        if isinstance(value, bytes) and length != 0xFFFFFFFF and len(value) < length:
            raise InvalidDicom(f"The file is truncated: {last.tag} declares {length} bytes, has {len(value)}")
        sop_class_uid = ds.get("SOPClassUID")
        sop_instance_uid = ds.get("SOPInstanceUID")
    except InvalidDicom:
        raise
    except (InvalidDicomError, Exception) as exc:  # pydicom signals garbage with many exception types
        raise InvalidDicom(f"Not a readable DICOM file: {exc}") from exc
    if not sop_class_uid or not sop_instance_uid:
        raise InvalidDicom("The object lacks its SOP Class UID or SOP Instance UID")
    return ds


# --- naming ---------------------------------------------------------------------------------------
def _java_string_hash(text: str) -> int:
    data = text.encode("utf-16-be")  # Java hashes UTF-16 code units
    h = 0
    for unit in struct.unpack(f">{len(data) // 2}H", data):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def java_list_hash(*values: str) -> str:
    """Java's `List.hashCode()` of strings as unsigned base 36: XNAT's `Hash{A}With{B}` (§3.1)."""
    h = 1
    for value in values:
        h = (31 * h + _java_string_hash(value)) & 0xFFFFFFFF
    return _base36(h)


def _value(ds: Dataset, keyword: str) -> str:
    text = str(ds.get(keyword, "") or "").strip()
    return text or f"no-value-for-{keyword}"


def file_name(ds: Dataset) -> str:
    """XNAT's default name `{StudyUID}-{SeriesNumber}-{InstanceNumber}-{hash(SOPClass, SOPInstance)}.dcm`.

    Unlike XNAT it is made from the header after the site script, so no original UID reaches a name.
    """
    name = "-".join(
        (
            _value(ds, "StudyInstanceUID"),
            _value(ds, "SeriesNumber"),
            _value(ds, "InstanceNumber"),
            java_list_hash(str(ds.SOPClassUID), str(ds.SOPInstanceUID)),
        )
    )
    return layout.check_file_name(f"{name}.dcm")


def scan_folder(ds: Dataset) -> str:
    """SeriesNumber (a leading `+` becomes `_`), else the SeriesInstanceUID as a label, else `NA`."""
    series_number = str(ds.get("SeriesNumber", "") or "").strip()
    if series_number.startswith("+"):
        series_number = "_" + series_number[1:]
    for candidate in (series_number, layout.clean_label(ds.get("SeriesInstanceUID", ""))):
        if (
            candidate
            and len(candidate) <= layout.LABEL_MAX_LENGTH
            and layout.clean_label(candidate) == candidate
        ):
            return candidate
    return "NA"


def _dicom_date(value) -> date | None:
    try:
        return datetime.strptime(str(value or "").strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _dicom_time(value) -> time | None:
    text = str(value or "").strip().split(".")[0]
    for fmt in ("%H%M%S", "%H%M", "%H"):
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    return None


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# --- writing --------------------------------------------------------------------------------------
def prepare_meta(ds: Dataset, source_ae: str = "") -> None:
    """A complete file meta header (bare datasets get one), naming the sender like XNAT does."""
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = {
            (True, True): ImplicitVRLittleEndian,
            (False, True): ExplicitVRLittleEndian,
            (False, False): ExplicitVRBigEndian,
        }.get(tuple(ds.original_encoding), ExplicitVRLittleEndian)
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for tag in ARRIVAL_META:
        if tag in meta:
            del meta[tag]
    if source_ae:
        meta.SourceApplicationEntityTitle = source_ae.strip()
    ds.file_meta = meta


def encode_instance(ds: Dataset) -> bytes:
    """The instance as a Part 10 file, the same bytes `pydicom.dcmwrite` writes.

    Elements the site script did not touch are still pydicom's raw elements: they are copied as read
    instead of going through pydicom's writer one by one (half the encoding time of an MR instance).
    """
    transfer_syntax = ds.file_meta.TransferSyntaxUID
    encoding = (transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian)
    if (
        transfer_syntax.is_deflated
        or encoding != tuple(ds.original_encoding)
        or ds.original_character_set != ds._character_set
    ):
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        return buffer.getvalue()
    implicit, little = encoding
    out = DicomBytesIO()
    out.is_implicit_VR, out.is_little_endian = implicit, little
    out.write(ds.preamble or b"\0" * 128)
    out.write(b"DICM")
    write_file_meta_info(out, ds.file_meta, enforce_standard=True)
    charset = ds.get("SpecificCharacterSet", "iso8859")
    tag_struct = struct.Struct("<HH" if little else ">HH")
    short_length, long_length = (
        struct.Struct("<H" if little else ">H"),
        struct.Struct("<I" if little else ">I"),
    )
    delimiter = tag_struct.pack(0xFFFE, 0xE0DD) + b"\0\0\0\0"
    write = out.write
    elements = ds._dict
    for tag in sorted(elements):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths are not written (PS3.5 7.2), as pydicom does
        elem = elements[tag]
        raw = isinstance(elem, RawDataElement) and isinstance(elem.value, bytes)
        if not raw or (not implicit and elem.VR not in _LONG_VRS and len(elem.value) > 0xFFFF):
            write_data_element(out, ds[tag], charset)
            continue
        value, undefined = elem.value, elem.length == _UNDEFINED
        length = _UNDEFINED if undefined else len(value)
        write(tag_struct.pack(tag >> 16, tag & 0xFFFF))
        if implicit:
            write(long_length.pack(length))
        elif elem.VR in _LONG_VRS:
            write(elem.VR.encode() + b"\0\0" + long_length.pack(length))
        else:
            write(elem.VR.encode() + short_length.pack(length))
        write(value)
        if undefined:
            write(delimiter)
    return out.getvalue()


def write_instance(ds: Dataset, target: Path) -> tuple[int, str]:
    """Write the dataset to `target` atomically (temp name in the same folder, then rename): (size, md5).

    The instance is encoded in memory first (it is in memory already) and written with one call:
    pydicom writing element by element into the file cost a third of the receiver's time.
    """
    data = encode_instance(ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return len(data), hashlib.md5(data, usedforsecurity=False).hexdigest()


def file_fields(ds: Dataset, path: Path, size: int, md5: str, scan_id: str, relative: str = "") -> dict:
    """The PrearchiveFile columns for an instance stored at `path` (`relative`: the same, as stored)."""
    return {
        "path": relative or layout.relative_path(path),
        "size": size,
        "md5": md5,
        "sop_class_uid": str(ds.SOPClassUID),
        "study_instance_uid": str(ds.get("StudyInstanceUID", "") or ""),
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "") or ""),
        "series_number": str(ds.get("SeriesNumber", "") or "").strip()[:16],
        "scan_id": scan_id,
        "modality": str(ds.get("Modality", "") or "")[:16],
        "series_description": str(ds.get("SeriesDescription", "") or "")[:255],
        "instance_number": _int(ds.get("InstanceNumber")),
        "frames": _int(ds.get("NumberOfFrames")) or 1,
        "received_at": timezone.now(),
    }
