"""Whether a DICOM file already holds given Patient Name and Patient ID, read straight from its bytes.

Archiving must write the final subject and session labels into (0010,0010) and (0010,0020); a file
that already holds exactly them (and that no project script touches) is linked into the archive
unchanged. Asking pydicom costs about as much as the link saves, so this walks the element headers
up to (0010,0020) itself: explicit or implicit VR little endian (every transfer syntax but big
endian and deflate, for which it answers "cannot tell", and the file is rewritten). Values are
compared as bytes, trailing padding aside: labels are plain ASCII.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from dicomio.rawitems import ITEM, ITEM_END, LONG_VRS, SEQUENCE_END
from dicomio.rawitems import UNDEFINED_LENGTH as UNDEFINED

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
TRANSFER_SYNTAX = 0x00020010
IMPLICIT = b"1.2.840.10008.1.2"
NOT_LITTLE_ENDIAN = {b"1.2.840.10008.1.2.2", b"1.2.840.10008.1.2.1.99"}  # big endian, deflated
READ_SIZE = 16 * 1024  # headers up to (0010,0020) are far smaller; read more when not
_TAG = struct.Struct("<HH")
_EXPLICIT = struct.Struct("<HH2sH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class _Unknown(Exception):
    """The bytes do not say (truncated, odd encoding): the caller rewrites the file."""


class _Reader:
    def __init__(self, data: bytes, implicit: bool):
        self.data, self.implicit, self.pos = data, implicit, 0

    def need(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise _Unknown()

    def element(self) -> tuple[int, int, bool]:
        """(tag, length, is_sequence) of the element at the position, moving past its header."""
        self.need(8)
        group, elem = _TAG.unpack_from(self.data, self.pos)
        tag = group << 16 | elem
        if group == 0xFFFE or self.implicit:
            (length,) = _U32.unpack_from(self.data, self.pos + 4)
            self.pos += 8
            return tag, length, length == UNDEFINED
        vr = self.data[self.pos + 4 : self.pos + 6]
        if vr in LONG_VRS:
            self.need(12)
            (length,) = _U32.unpack_from(self.data, self.pos + 8)
            self.pos += 12
        else:
            (length,) = _U16.unpack_from(self.data, self.pos + 6)
            self.pos += 8
        return tag, length, vr == b"SQ" or length == UNDEFINED

    def skip_undefined(self) -> None:
        """Skip a sequence (or encapsulated data) of undefined length, up to its delimiter."""
        while True:
            tag, length, _ = self.element()
            if tag == SEQUENCE_END:
                return
            if tag != ITEM:
                raise _Unknown()
            if length != UNDEFINED:
                self.need(length)
                self.pos += length
                continue
            while True:  # an item of undefined length: elements up to the item delimiter
                inner, inner_length, _ = self.element()
                if inner == ITEM_END:
                    break
                if inner_length == UNDEFINED:
                    self.skip_undefined()
                else:
                    self.need(inner_length)
                    self.pos += inner_length


def _values(data: bytes) -> dict[int, bytes]:
    if len(data) < 132 or data[128:132] != b"DICM":
        raise _Unknown()
    meta, position, complete = _scan(data, 132, False, 0x0002FFFF, (TRANSFER_SYNTAX,))
    syntax = meta.get(TRANSFER_SYNTAX, b"").rstrip(b"\x00 ")
    if not complete or not syntax or syntax in NOT_LITTLE_ENDIAN:
        raise _Unknown()
    found, _, complete = _scan(data, position, syntax == IMPLICIT, PATIENT_ID, (PATIENT_NAME, PATIENT_ID))
    if not complete:
        raise _Unknown()  # the read stopped before (0010,0020): read more
    return found


def _scan(
    data: bytes, position: int, implicit: bool, last: int, wanted: tuple[int, ...]
) -> tuple[dict[int, bytes], int, bool]:
    """The values of the `wanted` elements among those up to tag `last`, the position of the first
    element past `last`, and whether one was reached (else the data ended first).

    One unpack per element and no method calls: this loop is most of the cost of a linked file."""
    size = len(data)
    found: dict[int, bytes] = {}
    while position + 8 <= size:
        group, element, vr, length = _EXPLICIT.unpack_from(data, position)
        tag = group << 16 | element
        if tag > last:
            return found, position, True
        if implicit or group == 0xFFFE:
            (length,) = _U32.unpack_from(data, position + 4)
            start = position + 8
        elif vr in LONG_VRS:
            if position + 12 > size:
                raise _Unknown()
            (length,) = _U32.unpack_from(data, position + 8)
            start = position + 12
        else:
            start = position + 8
        if length == UNDEFINED:
            reader = _Reader(data, implicit)
            reader.pos = start
            reader.skip_undefined()
            position = reader.pos
            continue
        position = start + length
        if position > size:
            raise _Unknown()
        if tag in wanted:
            found[tag] = data[start:position]
    return found, position, position == size and size % READ_SIZE != 0  # all of a short file was read


def _read(path: Path | str, size: int) -> bytes:
    """The first `size` bytes of a file (fewer when it is shorter): no buffered file object."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def holds_labels(path: Path | str, patient_name: str, patient_id: str) -> bool:
    """True only if the file surely holds exactly these Patient Name and Patient ID values."""
    data = _read(path, READ_SIZE)
    size = READ_SIZE
    while True:
        try:
            found = _values(data)
            break
        except _Unknown:
            if len(data) < size:  # the whole file was read: it does not say
                return False
            size *= 4
            data = _read(path, size)
        except struct.error:
            return False
    name, identifier = found.get(PATIENT_NAME), found.get(PATIENT_ID)
    if name is None or identifier is None:
        return False
    return (
        name.rstrip(b" \x00") == patient_name.encode() and identifier.rstrip(b" \x00") == patient_id.encode()
    )
