"""The few DICOM encodings the receiver's hot path needs, written out by hand because pydicom spends
about ten times longer on them (bench/receiver.py): C-STORE/C-ECHO command sets (PS3.7 9.3, E.1,
always Implicit VR Little Endian), the Part 10 file meta header of a received instance (PS3.10 7.1),
and the receive-time check of a data set's structure (PS3.5 7) that decides C210.

The check walks element headers only, never values (dicomio/elements.py `Walker`), so it costs the same
for 100 kB and 2 GB.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

from dicomio import part10
from dicomio.elements import LONG_VRS, VRS, Walker
from dicomio.errors import InvalidDicom
from dicomio.files import DEFLATED_SYNTAXES

# Command fields (PS3.7 E.1-1)
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
NO_DATA_SET = 0x0101

AFFECTED_SOP_CLASS_UID = 0x00000002
COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
MESSAGE_ID_BEING_RESPONDED_TO = 0x00000120
COMMAND_DATA_SET_TYPE = 0x00000800
STATUS = 0x00000900
AFFECTED_SOP_INSTANCE_UID = 0x00001000

EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
# The data set of these is a deflate stream: its structure is checked when the instance is processed.
DEFLATED = frozenset(DEFLATED_SYNTAXES)

_SOP_CLASS_UID, _SOP_INSTANCE_UID = 0x00080016, 0x00080018


# --- command sets ---------------------------------------------------------------------------------
def parse_command(data: bytes | bytearray) -> dict[int, bytes]:
    """The elements of a command set (Implicit VR Little Endian): {tag: raw value}."""
    elements, position, end = {}, 0, len(data)
    while position + 8 <= end:
        group, element, length = struct.unpack_from("<HHI", data, position)
        start = position + 8
        if start + length > end:
            raise InvalidDicom("The command set is truncated")
        elements[(group << 16) | element] = bytes(data[start : start + length])
        position = start + length
    if position != end:
        raise InvalidDicom("The command set is truncated")
    return elements


def command_int(elements: dict[int, bytes], tag: int) -> int | None:
    value = elements.get(tag)
    return struct.unpack("<H", value[:2])[0] if value and len(value) >= 2 else None


def command_uid(elements: dict[int, bytes], tag: int) -> str:
    return elements.get(tag, b"").rstrip(b"\0 ").decode("ascii", "replace")


def _uid_bytes(uid: str | bytes) -> bytes:
    value = uid.encode("ascii") if isinstance(uid, str) else uid.rstrip(b"\0 ")
    return value + b"\0" if len(value) % 2 else value


def encode_command(elements: dict[int, bytes]) -> bytes:
    """A command set with its group length, elements in tag order."""
    body = b"".join(
        struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
        for tag, value in sorted(elements.items())
    )
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


def response(request: dict[int, bytes], status: int) -> bytes:
    """The C-STORE-RSP or C-ECHO-RSP answering `request` with `status` (PS3.7 9.3.1.2, 9.3.5.2)."""
    field = command_int(request, COMMAND_FIELD)
    elements = {
        AFFECTED_SOP_CLASS_UID: _uid_bytes(request.get(AFFECTED_SOP_CLASS_UID, b"")),
        COMMAND_FIELD: struct.pack("<H", (field or 0) | 0x8000),
        MESSAGE_ID_BEING_RESPONDED_TO: request.get(MESSAGE_ID, b"\0\0")[:2],
        COMMAND_DATA_SET_TYPE: struct.pack("<H", NO_DATA_SET),
        STATUS: struct.pack("<H", status),
    }
    if field == C_STORE_RQ:
        elements[AFFECTED_SOP_INSTANCE_UID] = _uid_bytes(request.get(AFFECTED_SOP_INSTANCE_UID, b""))
    return encode_command(elements)


# --- file meta --------------------------------------------------------------------------------------
def _meta_element(tag: int, vr: bytes, value: bytes) -> bytes:
    if vr in LONG_VRS:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _text(value: str, limit: int) -> bytes:
    data = value.encode("ascii", "replace")[:limit]
    return data + b" " if len(data) % 2 else data


@dataclass(frozen=True)
class Arrival:
    """How an instance reached us, kept in its file meta while it waits in the spool (PS3.10 7.1):
    Sending/Receiving Application Entity Title and Presentation Address."""

    calling_ae: str
    called_ae: str
    peer_address: str
    port: int


def file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, arrival: Arrival) -> bytes:
    """Preamble, `DICM` and the group 0002 header of a received instance (Explicit VR Little Endian)."""
    host = f"[{arrival.peer_address}]" if ":" in arrival.peer_address else arrival.peer_address
    body = b"".join(
        (
            _meta_element(0x00020001, b"OB", b"\0\1"),
            _meta_element(0x00020002, b"UI", _uid_bytes(sop_class_uid)),
            _meta_element(0x00020003, b"UI", _uid_bytes(sop_instance_uid)),
            _meta_element(0x00020010, b"UI", _uid_bytes(transfer_syntax)),
            _meta_element(0x00020012, b"UI", _uid_bytes(PYNETDICOM_IMPLEMENTATION_UID)),
            _meta_element(0x00020013, b"SH", _text(PYNETDICOM_IMPLEMENTATION_VERSION, 16)),
            _meta_element(0x00020016, b"AE", _text(arrival.calling_ae, 16)),
            _meta_element(0x00020017, b"AE", _text(arrival.calling_ae, 16)),
            _meta_element(0x00020018, b"AE", _text(arrival.called_ae, 16)),
            _meta_element(0x00020027, b"UR", _text(f"dicom://{host}", 256)),
            _meta_element(0x00020028, b"UR", _text(f"dicom://:{arrival.port}", 256)),
        )
    )
    return b"\0" * 128 + b"DICM" + _meta_element(0x00020000, b"UL", struct.pack("<I", len(body))) + body


def read_arrival(path) -> Arrival | None:
    """The Arrival `file_meta` wrote into a spooled file; None when the file has none."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    elements, _ = part10.file_meta_elements(head)
    if not elements:
        return None
    values = {
        tag: (elem.value or b"").rstrip(b"\0 ").decode("ascii", "replace") for tag, elem in elements.items()
    }
    called = values.get(0x00020018, "")
    if not called:
        return None
    receiving = values.get(0x00020028, "").rpartition(":")[2]
    return Arrival(
        calling_ae=values.get(0x00020017, ""),
        called_ae=called,
        peer_address=values.get(0x00020027, "").removeprefix("dicom://").strip("[]"),
        port=int(receiving) if receiving.isdigit() else 0,
    )


# --- the receive-time check -------------------------------------------------------------------------
def check_dataset(data, transfer_syntax: str) -> tuple[str, str]:
    """Prove `data` (a buffer holding the data set, no meta) is a complete data set with its SOP UIDs.

    Returns (SOP Class UID, SOP Instance UID); raises InvalidDicom for anything else. Deflated data sets
    are not walked: their SOP UIDs are taken from the caller and checked when the instance is processed.
    """
    if transfer_syntax in DEFLATED:
        return "", ""
    if len(data) < 8:
        raise InvalidDicom("The data set is empty")
    # Like pydicom, trust the first element over the transfer syntax about explicit or implicit VR:
    # some senders encode implicit VR under an explicit transfer syntax.
    implicit = bytes(data[4:6]) not in VRS
    little = transfer_syntax != EXPLICIT_VR_BIG_ENDIAN
    walker = Walker(data, implicit=implicit, little=little, keep=(_SOP_CLASS_UID, _SOP_INSTANCE_UID))
    walker.dataset(0, 0, until_item_end=False)
    sop_class_uid = walker.values.get(_SOP_CLASS_UID, b"").rstrip(b"\0 ").decode("ascii", "replace")
    sop_instance_uid = walker.values.get(_SOP_INSTANCE_UID, b"").rstrip(b"\0 ").decode("ascii", "replace")
    if not sop_class_uid or not sop_instance_uid:
        raise InvalidDicom("The object lacks its SOP Class UID or SOP Instance UID")
    return sop_class_uid, sop_instance_uid
