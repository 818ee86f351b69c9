"""Raw data elements (PS3.5 7): the VRs and their length fields, the item and delimiter tags, and the
one walker over element headers that skips values, so a walk costs the same for 100 kB and 2 GB.

The VRs are pydicom's (`pydicom.valuerep`), kept here as sets of bytes: a header's VR is compared as
the two bytes it is, and pydicom's VR enum hashes in Python code.
"""

from __future__ import annotations

import struct

from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

from dicomio.errors import InvalidDicom

# The VRs whose explicit-VR header has two reserved bytes and a 4-byte length (PS3.5 Table 7.1-1).
LONG_VRS = frozenset(str(vr).encode() for vr in EXPLICIT_VR_LENGTH_32)
VRS = frozenset(str(vr).encode() for vr in VR if len(vr) == 2)
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
MAX_DEPTH = 32  # nested sequences deeper than this are not a real instance


class Walker:
    """Walks a data set's element headers, skipping values, to prove it is complete and well formed;
    keeps the values of the top-level elements in `keep` (`values`)."""

    def __init__(self, data, implicit: bool, little: bool, keep: tuple[int, ...] = ()):
        self.data, self.end, self.implicit = data, len(data), implicit
        order = "<" if little else ">"
        self.tag_struct, self.u16, self.u32 = (struct.Struct(order + f) for f in ("HH", "H", "I"))
        self.keep = keep
        self.values: dict[int, bytes] = {}

    def header(self, position: int) -> tuple[int, bytes | None, int, int]:
        """(tag, VR or None, value length, header size) of the element at `position`."""
        if position + 8 > self.end:
            raise InvalidDicom("The data set is truncated (an element header is cut off)")
        group, element = self.tag_struct.unpack_from(self.data, position)
        tag = (group << 16) | element
        if self.implicit or group == 0xFFFE:  # items and delimiters have no VR in any syntax
            return tag, None, self.u32.unpack_from(self.data, position + 4)[0], 8
        vr = bytes(self.data[position + 4 : position + 6])
        if vr not in VRS:
            raise InvalidDicom(f"Not a DICOM data set: element ({group:04X},{element:04X}) has VR {vr!r}")
        if vr in LONG_VRS:
            if position + 12 > self.end:
                raise InvalidDicom("The data set is truncated (an element header is cut off)")
            return tag, vr, self.u32.unpack_from(self.data, position + 8)[0], 12
        return tag, vr, self.u16.unpack_from(self.data, position + 6)[0], 8

    def dataset(self, position: int, depth: int, until_item_end: bool) -> int:
        """Walk elements from `position`; returns the position after the data set (or its item end)."""
        if depth > MAX_DEPTH:
            raise InvalidDicom("The data set nests sequences too deeply")
        while position < self.end:
            if (
                not until_item_end
                and depth == 0
                and self.end - position < 8
                and not any(self.data[position:])
            ):
                return self.end  # a few bytes of zero padding after the last element
            tag, vr, length, size = self.header(position)
            position += size
            if tag == ITEM_END:
                if not until_item_end:
                    raise InvalidDicom("Not a DICOM data set: an item delimiter outside an item")
                return position
            if length == UNDEFINED_LENGTH:
                if vr is not None and vr not in (b"SQ", b"UN", b"OB", b"OW"):
                    raise InvalidDicom(f"Not a DICOM data set: undefined length for VR {vr!r}")
                position = self.items(position, depth + 1)
                continue
            if depth == 0 and tag in self.keep:
                self.values[tag] = bytes(self.data[position : position + length])
            position += length
            if position > self.end:
                raise InvalidDicom(
                    f"The data set is truncated: ({tag >> 16:04X},{tag & 0xFFFF:04X}) is cut off"
                )
        if until_item_end:
            raise InvalidDicom("The data set is truncated inside a sequence item")
        return position

    def items(self, position: int, depth: int) -> int:
        """Skip the items of an undefined-length sequence (or encapsulated pixel data) and its delimiter."""
        while True:
            tag, _, length, size = self.header(position)
            position += size
            if tag == SEQUENCE_END:
                return position
            if tag != ITEM:
                raise InvalidDicom("Not a DICOM data set: a sequence holds something other than items")
            if length == UNDEFINED_LENGTH:
                position = self.dataset(position, depth, until_item_end=True)
            else:
                position += length
                if position > self.end:
                    raise InvalidDicom("The data set is truncated inside a sequence")
