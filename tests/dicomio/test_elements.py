"""dicomio/elements.py: the VRs are pydicom's and PS3.5's, and the walker finds where pydicom's
encoding of a sequence of undefined length ends."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from dicomio.elements import LONG_VRS, VRS, Walker
from dicomio.errors import InvalidDicom


def test_the_vrs_are_those_of_ps3_5_table_7_1_1():
    assert frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split()) == LONG_VRS
    short = b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split()
    assert LONG_VRS | frozenset(short) == VRS


def _encoded(ds: Dataset, implicit: bool) -> bytes:
    out = DicomBytesIO()
    out.is_implicit_VR, out.is_little_endian = implicit, True
    write_dataset(out, ds)
    return out.getvalue()


@pytest.mark.parametrize("implicit", [False, True])
def test_the_walker_skips_nested_undefined_length_sequences_to_their_end(implicit):
    inner = Dataset()
    inner.CodeValue = "X"
    outer = Dataset()
    outer.ReferencedSOPInstanceUID = "1.2.3"
    outer.ConceptNameCodeSequence = Sequence([inner])
    outer["ConceptNameCodeSequence"].is_undefined_length = True
    outer.is_undefined_length_sequence_item = True
    ds = Dataset()
    ds.ReferencedImageSequence = Sequence([outer, Dataset()])
    ds["ReferencedImageSequence"].is_undefined_length = True
    ds.PatientID = "P"
    data = _encoded(ds, implicit)
    walker = Walker(data, implicit=implicit, little=True, keep=(0x00100020,))
    header = 8 if implicit else 12
    after = walker.items(header, 1)
    assert data[after : after + 4] == b"\x10\x00\x20\x00"  # the next element: (0010,0020)
    assert walker.dataset(0, 0, until_item_end=False) == len(data)
    assert walker.values == {0x00100020: b"P "}
    with pytest.raises(InvalidDicom, match="truncated"):
        Walker(data[: after - 4], implicit=implicit, little=True).items(header, 1)
