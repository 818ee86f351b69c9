"""Read and write data element values as the text DicomEdit works with, without decoding untouched elements."""

from pydicom.datadict import DicomDictionary, dictionary_VR, get_private_entry
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import PIXEL_KEYWORDS, Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from dicomio.elements import UNDEFINED_LENGTH

from .errors import ScriptRuntimeError

PIXEL_DATA = 0x7FE00010
SEQUENCE_TAGS = frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")
INT_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
FLOAT_VRS = frozenset({"FL", "FD"})
INT_RANGES = {
    "US": (0, 0xFFFF),
    "SS": (-0x8000, 0x7FFF),
    "UL": (0, 0xFFFFFFFF),
    "SL": (-0x80000000, 0x7FFFFFFF),
    "UV": (0, 0xFFFFFFFFFFFFFFFF),
    "SV": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
}
BYTES_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
# Text VRs whose raw bytes are the ASCII text itself (PS3.5 6.2), when the text is ASCII.
RAW_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UT"}
)
# VRs whose value is never split on backslash (PS3.5 6.2: these have VM 1 by definition).
SINGLE_VALUED_VRS = frozenset({"LT", "ST", "UT", "UR"})


def is_sequence(ds: Dataset, tag: int) -> bool:
    """Tell whether an element is a sequence without decoding it when it is still raw."""
    return holds_sequence(ds.get_item(tag))


def holds_sequence(elem: DataElement | RawDataElement | None) -> bool:
    """is_sequence for an element taken from ``Dataset.values()`` (raw or not)."""
    if elem is None:
        return False
    tag = elem.tag
    if isinstance(elem, RawDataElement):
        if elem.VR == "SQ":
            return True
        if elem.VR not in (None, "UN"):
            return False
        # Implicit VR or UN: the dictionary knows public sequences; an undefined length that is not
        # encapsulated pixel data can only be a sequence (PS3.5 7.5 and A.4).
        return tag in SEQUENCE_TAGS or (elem.length == UNDEFINED_LENGTH and tag != PIXEL_DATA)
    return elem.VR == "SQ"


def sequence_items(ds: Dataset, tag: int) -> list[Dataset]:
    """The items of a sequence element, or [] when the element is not a sequence."""
    if not is_sequence(ds, tag):
        return []
    value = ds[tag].value
    return list(value) if isinstance(value, Sequence) else []


def element_text(elem: DataElement) -> str:
    """The value as one string: multiple values joined with backslash, binary as latin-1, none as ''."""
    value = elem.value
    if value is None or elem.VR == "SQ":
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1").rstrip("\x00 ")
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join("" if v is None else str(v) for v in value)
    return str(value)


def text_at(ds: Dataset, tag: int) -> str:
    """Text of an existing element; a still-raw UID is decoded without building a DataElement."""
    elem = ds.get_item(tag)
    if isinstance(elem, RawDataElement) and elem.VR == "UI" and isinstance(elem.value, bytes):
        return elem.value.decode("ascii", errors="replace").rstrip("\x00 ")
    return element_text(ds[tag])


def vr_for(ds: Dataset, tag: int, text: str) -> str:
    """The VR a new element gets: the data dictionary's, the private dictionary's, else LO or UT."""
    tag = BaseTag(tag)
    if not tag.is_private:
        try:
            return dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            pass
    elif tag.is_private_creator:
        return "LO"
    else:
        creator_tag = Tag(tag.group, tag.element >> 8)
        if creator_tag in ds:
            try:
                return get_private_entry(tag, str(ds[creator_tag].value))[0].split(" or ")[0]
            except KeyError:
                pass
    return "LO" if len(text) <= 64 else "UT"


def raw_value(vr: str | None, text: str) -> bytes | None:
    """The bytes ``text`` becomes in a still-raw element of this VR, None when it needs encoding.

    ASCII is the same bytes in every DICOM character set; an empty value is empty in every VR.
    """
    if text != "" and not (vr in RAW_TEXT_VRS and text.isascii()):
        return None
    encoded = text.encode("ascii")
    if len(encoded) % 2:
        encoded += b"\x00" if vr == "UI" else b" "
    return encoded


def set_text(ds: Dataset, tag: int, text: str) -> None:
    """Write text into element ``tag`` of ``ds``, creating it with a dictionary VR when absent."""
    elem = ds._dict.get(tag)  # type: ignore[call-overload]  # keyed by BaseTag, an int: an int finds it
    if isinstance(elem, RawDataElement):
        # Still raw: write the new bytes raw too, so the element is neither decoded nor re-encoded.
        encoded = raw_value(elem.VR, text)
        if encoded is not None:
            new = elem._replace(value=encoded, length=len(encoded))
            if tag >> 16 & 1 or tag in PIXEL_KEYWORDS:
                ds[tag] = new  # pydicom's bookkeeping of private blocks and pixel arrays
            else:
                # skips __setitem__: tag conversion and checks, several µs per element
                ds._dict[tag] = new  # type: ignore[index]  # keyed by BaseTag, an int: an int finds it
            return
    # A raw element keeps its VR (implicit VR files leave it to the dictionary).
    vr = elem.VR if elem is not None and elem.VR else vr_for(ds, tag, text)
    ds[tag] = DataElement(tag, vr, _convert(vr, text, tag))


def blank(ds: Dataset, tag: int) -> None:
    """Give an existing element an empty value of its VR (PS3.15 E.1 action Z)."""
    elem = ds[tag]
    elem.value = (
        Sequence() if elem.VR == "SQ" else None if elem.VR in INT_VRS | FLOAT_VRS else _empty(elem.VR)
    )


def _empty(vr: str) -> str | bytes:
    return b"" if vr in BYTES_VRS else ""


def _convert(vr: str, text: str, tag: int) -> object:
    if vr == "SQ":
        if text:
            raise ScriptRuntimeError(f"cannot assign text to the sequence {Tag(tag)}")
        return Sequence()
    if vr in BYTES_VRS:
        return text.encode("latin-1", errors="replace")
    parts = [text] if vr in SINGLE_VALUED_VRS else text.split("\\")
    if vr in INT_VRS or vr in FLOAT_VRS or vr == "AT":
        if text == "":
            return None
        try:
            numbers = [_number(vr, part) for part in parts]
        except ValueError:
            raise ScriptRuntimeError(f"{text!r} is not a valid {vr} value for {Tag(tag)}") from None
        return numbers[0] if len(numbers) == 1 else numbers
    return parts[0] if len(parts) == 1 else parts


def _number(vr: str, part: str) -> int | float:
    if vr == "AT":
        number = int(part.strip().strip("()").replace(",", ""), 16)
    elif vr in FLOAT_VRS:
        return float(part)
    else:
        number = int(part)
    low, high = INT_RANGES.get(vr, (0, 0xFFFFFFFF))
    if not low <= number <= high:  # else the value only fails later, when the file is written
        raise ValueError(part)
    return number
