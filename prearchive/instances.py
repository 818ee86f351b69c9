"""One instance as the prearchive stores it: its file name and scan folder as XNAT makes them, and its
PrearchiveFile row (xnat-spec.md §3.1, §5.3, §5.6). Reading and writing the file is dicomio's."""

from __future__ import annotations

import struct
from pathlib import Path

from django.utils import timezone
from pydicom.dataset import Dataset

from dicomio.files import header_text
from xnatlite import layout


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


def _value(ds: Dataset, tag: int, keyword: str) -> str:
    return header_text(ds, tag) or f"no-value-for-{keyword}"


def file_name(ds: Dataset) -> str:
    """XNAT's default name `{StudyUID}-{SeriesNumber}-{InstanceNumber}-{hash(SOPClass, SOPInstance)}.dcm`.

    Unlike XNAT it is made from the header after the site script, so no original UID reaches a name.
    """
    name = "-".join(
        (
            _value(ds, 0x0020000D, "StudyInstanceUID"),
            _value(ds, 0x00200011, "SeriesNumber"),
            _value(ds, 0x00200013, "InstanceNumber"),
            java_list_hash(header_text(ds, 0x00080016), header_text(ds, 0x00080018)),
        )
    )
    return layout.check_file_name(f"{name}.dcm")


def scan_folder(ds: Dataset) -> str:
    """SeriesNumber (a leading `+` becomes `_`), else the SeriesInstanceUID as a label, else `NA`."""
    series_number = header_text(ds, 0x00200011)
    if series_number.startswith("+"):
        series_number = "_" + series_number[1:]
    for candidate in (series_number, layout.clean_label(header_text(ds, 0x0020000E))):
        if (
            candidate
            and len(candidate) <= layout.LABEL_MAX_LENGTH
            and layout.clean_label(candidate) == candidate
        ):
            return candidate
    return "NA"


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def file_fields(ds: Dataset, path: Path, size: int, md5: str, scan_id: str, relative: str = "") -> dict:
    """The PrearchiveFile columns for an instance stored at `path` (`relative`: the same, as stored)."""
    return {
        "path": relative or layout.relative_path(path),
        "size": size,
        "md5": md5,
        "sop_class_uid": header_text(ds, 0x00080016),
        "study_instance_uid": header_text(ds, 0x0020000D),
        "series_instance_uid": header_text(ds, 0x0020000E),
        "series_number": header_text(ds, 0x00200011)[:16],
        "scan_id": scan_id,
        "modality": header_text(ds, 0x00080060)[:16],
        "series_description": header_text(ds, 0x0008103E)[:255],
        "instance_number": _int(header_text(ds, 0x00200013)),
        "frames": _int(header_text(ds, 0x00280008)) or 1,
        "received_at": timezone.now(),
    }
