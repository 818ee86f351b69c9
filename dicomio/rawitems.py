"""Edit the items of a still-raw sequence in its encoded bytes, without pydicom decoding it.

pydicom keeps a defined-length sequence as raw bytes until it is looked into; decoding it, then
encoding it again on write, was half the cost of the default site script on an MR instance
(bench/anonymize_site_script.py). Statements that only delete elements or give them a plain value
(removeAllPrivateTags, the batched ``*/`` lines) edit such bytes here instead, element by element, and
the sequence stays raw. Only explicit VR little endian is edited so; anything else (implicit VR, a
value that is not plain ASCII, odd or truncated bytes) raises Unsupported and the caller decodes the
sequence as before.
"""

import enum
import struct
from collections.abc import Callable
from typing import Final, TypeGuard

from pydicom.dataelem import RawDataElement

from dicomio.elements import ITEM, ITEM_END, LONG_VRS, SEQUENCE_END, UNDEFINED_LENGTH

_TAG = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_ITEM_HEADER = struct.Struct("<HHI")
_UNDEFINED_ITEM = _ITEM_HEADER.pack(0xFFFE, 0xE000, UNDEFINED_LENGTH)
_ITEM_DELIMITER = _ITEM_HEADER.pack(0xFFFE, 0xE00D, 0)
_SEQUENCE_DELIMITER = _ITEM_HEADER.pack(0xFFFE, 0xE0DD, 0)


class Unsupported(Exception):
    """These bytes are not edited here: the caller decodes the sequence instead."""


class Keep(enum.Enum):
    """The answer of an ElementEdit leaving an element as it is (a sequence is then looked into)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP  # answers are told apart with `is`; a one-member enum lets mypy narrow on it
# (tag, VR, value bytes or None for an undefined-length sequence) -> KEEP, None to delete the element,
# or its new value bytes (even length). May raise Unsupported.
ElementEdit = Callable[[int, bytes, bytes | None], "Keep | bytes | None"]


def editable(elem: object) -> TypeGuard[RawDataElement]:
    """Whether ``elem`` is a raw sequence this module can edit."""
    return (
        isinstance(elem, RawDataElement)
        and elem.VR == "SQ"
        and not elem.is_implicit_VR
        and elem.is_little_endian
        and isinstance(elem.value, bytes)
        and elem.length == len(elem.value)
    )


def edit_sequence(elem: RawDataElement, edit: ElementEdit) -> RawDataElement:
    """``elem`` with ``edit`` applied to every element of its items at every depth (``elem`` itself
    when nothing changed); raise Unsupported when the bytes cannot be edited here."""
    data = elem.value
    if not isinstance(data, bytes):  # editable() checked it already
        raise Unsupported("a raw sequence without its bytes")
    try:
        pieces, position, changed = _items(data, 0, len(data), edit)
    except struct.error:
        raise Unsupported("truncated sequence") from None
    if position != len(data):
        raise Unsupported("sequence items overrun their sequence")
    if not changed:
        return elem
    value = b"".join(pieces)
    return elem._replace(value=value, length=len(value))


def _items(data: bytes, position: int, end: int | None, edit: ElementEdit) -> tuple[list[bytes], int, bool]:
    """The items from ``position`` up to ``end`` (or the sequence delimiter when ``end`` is None)."""
    pieces: list[bytes] = []
    changed = False
    while end is None or position < end:
        group, element, length = _ITEM_HEADER.unpack_from(data, position)
        tag = group << 16 | element
        position += 8
        if tag == SEQUENCE_END and end is None:
            return pieces, position, changed
        if tag != ITEM:
            raise Unsupported(f"({group:04X},{element:04X}) where an item should start")
        if length == UNDEFINED_LENGTH:
            body, position, item_changed = _elements(data, position, None, edit)
            pieces.append(_UNDEFINED_ITEM)
            pieces.extend(body)
            pieces.append(_ITEM_DELIMITER)
        else:
            body, after, item_changed = _elements(data, position, position + length, edit)
            if after != position + length:
                raise Unsupported("item elements overrun their item")
            if item_changed:
                pieces.append(_ITEM_HEADER.pack(0xFFFE, 0xE000, sum(map(len, body))))
                pieces.extend(body)
            else:
                pieces.append(data[position - 8 : after])
            position = after
        changed = changed or item_changed
    if end is not None and position != end:
        raise Unsupported("items overrun their sequence")
    return pieces, position, changed


def _elements(
    data: bytes, position: int, end: int | None, edit: ElementEdit
) -> tuple[list[bytes], int, bool]:
    """The elements of one item from ``position`` up to ``end`` (or the item delimiter)."""
    pieces: list[bytes] = []
    changed = False
    size = len(data)
    while end is None or position < end:
        group, element = _TAG.unpack_from(data, position)
        tag = group << 16 | element
        if tag == ITEM_END and end is None:
            return pieces, position + 8, changed
        if group == 0xFFFE:
            raise Unsupported(f"({group:04X},{element:04X}) inside an item")
        vr = data[position + 4 : position + 6]
        if vr in LONG_VRS:
            (length,) = _U32.unpack_from(data, position + 8)
            start = position + 12
        else:
            (length,) = _U16.unpack_from(data, position + 6)
            start = position + 8
        if length == UNDEFINED_LENGTH:
            if vr != b"SQ":
                raise Unsupported(f"undefined length {vr!r} element inside an item")
            decision = edit(tag, vr, None)
            inner, after, inner_changed = _items(data, start, None, edit)
            if decision is KEEP:
                if inner_changed:
                    pieces.append(data[position:start])
                    pieces.extend(inner)
                    pieces.append(_SEQUENCE_DELIMITER)
                else:
                    pieces.append(data[position:after])
            else:
                if decision is not None:
                    pieces.append(_header(tag, vr, decision))
                changed = True
            changed = changed or inner_changed
            position = after
            continue
        after = start + length
        if after > size:
            raise Unsupported("element value past the end of its sequence")
        value = data[start:after]
        decision = edit(tag, vr, value)
        if decision is KEEP:
            if vr == b"SQ":
                inner, inner_end, inner_changed = _items(data, start, after, edit)
                if inner_end != after:
                    raise Unsupported("items overrun their sequence")
                if inner_changed:
                    inner_value = b"".join(inner)
                    pieces.append(_header(tag, vr, inner_value))
                    changed = True
                else:
                    pieces.append(data[position:after])
            else:
                pieces.append(data[position:after])
        elif decision is not None:
            pieces.append(_header(tag, vr, decision))
            changed = True
        else:
            changed = True
        position = after
    if end is not None and position != end:
        raise Unsupported("elements overrun their item")
    return pieces, position, changed


def item_bytes(elements: list[tuple[int, bytes, bytes]]) -> bytes:
    """A defined-length item of (tag, VR, value) elements, given in tag order."""
    body = b"".join(_header(tag, vr, value) for tag, vr, value in elements)
    return _ITEM_HEADER.pack(0xFFFE, 0xE000, len(body)) + body


def _header(tag: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element: its header followed by ``value``."""
    if vr in LONG_VRS:
        return _TAG.pack(tag >> 16, tag & 0xFFFF) + vr + b"\0\0" + _U32.pack(len(value)) + value
    if len(value) > 0xFFFF:
        raise Unsupported(f"{len(value)} bytes do not fit a {vr!r} element")
    return _TAG.pack(tag >> 16, tag & 0xFFFF) + vr + _U16.pack(len(value)) + value
