"""A Part 10 file read the way `pydicom.dcmread(path, force=True, defer_size=...)` reads it, for the
common case only, in a third of the time: every instance the spool workers process passes here.

The common case: the 'DICM' prefix, a file meta in Explicit VR Little Endian, an uncompressed Little
Endian transfer syntax (Implicit or Explicit VR) that the data set really uses, and top-level elements
of defined length and standard VR (or, in Explicit VR, sequences of undefined length, which pydicom's
own `read_sequence` parses, as scanners often write them), all within the first HEAD_BYTES of the file
but for deferred values (longer than `defer_size`, the pixel data). Anything else gives None, and the
caller lets pydicom read the file: pixel data or other values of undefined length, undefined-length
sequences in Implicit VR, big endian, deflated or compressed syntaxes, a command group, odd VRs, a
header longer than HEAD_BYTES, a file cut short.

The result is the same FileDataset pydicom builds (raw elements with the same values and offsets, the
same meta, encodings, file name and time stamp); tests/dicomio/test_part10.py compares the two on
every file pydicom bundles. What it saves: pydicom asks the kernel for the position before every
element (a buffered file's `tell` is a system call) and builds five datasets per file.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.filereader import read_sequence
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR
from pydicom.values import convert_string

from dicomio.elements import UNDEFINED_LENGTH as _UNDEFINED

HEAD_BYTES = 64 << 10  # read at once; a header longer than this is left to pydicom
IMPLICIT_LE, EXPLICIT_LE = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"
_CHARSET = 0x00080005
_VRS = {vr.encode(): (str(vr), vr in EXPLICIT_VR_LENGTH_32) for vr in VR}  # pydicom's own VR list
_EXPLICIT = struct.Struct("<HH2sH")
_IMPLICIT = struct.Struct("<HHL")
_LONG = struct.Struct("<L")


def read(path: Path | str, defer_size: int) -> FileDataset | None:
    """The file as pydicom reads it, or None when it is not the common case (see the module)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, min(size, HEAD_BYTES), 0)
    finally:
        os.close(fd)
    meta_elements, position = file_meta_elements(head, size)
    if not meta_elements or position + 8 > len(head):
        return None
    try:
        return _datasets(path, head, meta_elements, position, size, defer_size)
    except Exception:  # a value pydicom may read another way (or refuse): it decides
        return None


def file_meta_elements(head: bytes, size: int | None = None) -> tuple[dict | None, int]:
    """The raw file meta elements of a Part 10 file from its first bytes (`size`: the whole file's),
    and where they end; None without the 'DICM' prefix or when the meta is not plain Explicit VR."""
    if head[128:132] != b"DICM":
        return None, 0
    return _elements(head, 132, len(head) if size is None else size, None, False, meta=True)


def _datasets(path, head: bytes, meta_elements: dict, position: int, size: int, defer_size: int):
    """The FileDataset from the meta's raw elements and the data set starting at `position`."""
    file_meta = FileMetaDataset(meta_elements)
    file_meta.set_original_encoding(False, True, default_encoding)
    # what pydicom reads of the meta as it reads it (the element objects it leaves behind are the same)
    file_meta[next(iter(file_meta._dict))]  # the first element, to test the meta
    if 0x00020000 in file_meta._dict:
        file_meta[0x00020000]  # the group length, to compare it
    syntax = file_meta.get(0x00020010)
    if syntax is None or syntax.value not in (IMPLICIT_LE, EXPLICIT_LE):
        return None
    implicit = syntax.value == IMPLICIT_LE
    vr = head[position + 4 : position + 6]  # pydicom trusts the first element over the meta: so do we
    if (not (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B)) != implicit:
        return None
    elements, _ = _elements(head, position, size, defer_size, implicit, meta=False)
    if not elements:
        return None
    dataset = Dataset(elements, parent_encoding=default_encoding)
    charset = elements.get(_CHARSET)
    encoding = convert_encodings(convert_raw_data_element(charset).value) if charset else default_encoding
    dataset.set_original_encoding(implicit, True, encoding)
    ds = FileDataset(str(path), dataset, head[:128], file_meta, implicit, True)
    ds.set_original_encoding(implicit, True, dataset._character_set)
    return ds


def _elements(
    head: bytes, position: int, size: int, defer_size: int | None, implicit: bool, *, meta: bool
) -> tuple[dict | None, int]:
    """The raw elements from `position` on, and where they end: the file meta's (group 0002, Explicit
    VR) or the data set's (the rest of the file). None when one is not of the common case."""
    elements: dict[BaseTag, RawDataElement | DataElement] = {}
    end, buffer, encoding = len(head), None, default_encoding
    while position + 8 <= size:
        if position + 8 > end:
            return None, position  # more elements than the head holds
        if implicit:
            group, element, length = _IMPLICIT.unpack_from(head, position)
            vr, start = None, position + 8
        else:
            group, element, code, length = _EXPLICIT.unpack_from(head, position)
            if meta and group != 2:
                break
            known = _VRS.get(code)
            if known is None:
                return None, position
            vr, long = known
            start = position + 8
            if long:
                if start + 4 > end:
                    return None, position
                length = _LONG.unpack_from(head, start)[0]
                start += 4
        if group in (0x0000, 0xFFFE) or (group == 0x0002) != meta:
            return None, position
        number = group << 16 | element  # compared as an int: BaseTag's comparisons are Python code
        tag = BaseTag(number)
        if length == _UNDEFINED:
            if vr != "SQ" or meta:
                return None, position  # encapsulated pixel data, UN, an implicit VR: pydicom's
            # a sequence of undefined length (common from scanners), parsed as pydicom does
            if buffer is None:
                buffer = io.BytesIO(head)
            buffer.seek(start)
            sequence = read_sequence(buffer, implicit, True, length, encoding)
            elements[tag] = DataElement(tag, vr, sequence, start, is_undefined_length=True)
            position = buffer.tell()
            continue
        if defer_size is not None and length > defer_size and number != _CHARSET:
            value = None  # left in the file, as pydicom defers it
        elif start + length > end:
            return None, position  # beyond the head, or the file is cut short: pydicom tells
        else:
            value = head[start : start + length] if length else empty_value_for_VR(vr, raw=True)
        elements[tag] = RawDataElement(tag, vr, length, value, start, implicit, True)  # type: ignore[arg-type]  # raw: bytes
        if number == _CHARSET:  # the encoding of the sequences that follow, as pydicom keeps it
            encoding = convert_encodings(convert_string(value or b"", True))  # type: ignore[assignment, arg-type]
        position = start + length
    if not meta and position != size:
        return None, position  # a few stray bytes at the end, or a deferred value cut short
    return elements, position
