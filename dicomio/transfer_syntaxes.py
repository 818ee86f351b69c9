"""Which transfer syntaxes we can read and store (issue 14 item 12): those whose encoding pydicom knows
(every standard one: uncompressed, deflated, and the compressed ones, whose data sets are Explicit VR
Little Endian). A data set in any other cannot be read or written again, so the receiver refuses such
presentation contexts at negotiation and an upload refuses such a file by name, never answering
success and failing later.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import UID

from dicomio.errors import InvalidDicom


def readable(transfer_syntax: str) -> bool:
    """Whether we can read and store a data set in `transfer_syntax`."""
    try:
        uid = UID(str(transfer_syntax).strip("\0 "))
        return bool(uid.is_valid and uid.is_transfer_syntax)
    except Exception:  # a value pydicom cannot make a UID of
        return False


def check_readable(ds: Dataset) -> None:
    """InvalidDicom when the file meta names a transfer syntax we cannot read (none named: pydicom
    found the encoding itself)."""
    elem = ds.file_meta.get(0x00020010) if hasattr(ds, "file_meta") else None
    value = getattr(elem, "value", None)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if value and not readable(value):
        raise InvalidDicom(f"Transfer syntax {str(value).strip()!r} is not one we can read or store")
