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

from dicomio.elements import LONG_VRS, Walker
from dicomio.elements import UNDEFINED_LENGTH as UNDEFINED
from dicomio.errors import InvalidDicom

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
TRANSFER_SYNTAX = 0x00020010
IMPLICIT = b"1.2.840.10008.1.2"
NOT_LITTLE_ENDIAN = {b"1.2.840.10008.1.2.2", b"1.2.840.10008.1.2.1.99"}  # big endian, deflated
READ_SIZE = 16 * 1024  # headers up to (0010,0020) are far smaller; read more when not
_EXPLICIT = struct.Struct("<HH2sH")
_U32 = struct.Struct("<I")


class _Unknown(Exception):
    """The bytes do not say (truncated, odd encoding): the caller rewrites the file."""


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
    walker = None  # for sequences of undefined length, made at the first
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
        if length == UNDEFINED:  # a sequence (or encapsulated data): its items, up to its delimiter
            try:
                walker = walker or Walker(data, implicit, little=True)
                position = walker.items(start, 1)
            except InvalidDicom:
                raise _Unknown() from None
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
