"""dicomio/part10.py: the common case read fast gives exactly what pydicom gives; anything else is left
to pydicom (None)."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from dicomio import files as dicomfiles
from dicomio import part10
from dicomio.errors import InvalidDicom
from tests.dicomgen import make_study

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DEFER = dicomfiles.DEFER_BYTES


def _same_elements(ours: Dataset, theirs: Dataset, name: str) -> None:
    assert list(ours._dict) == list(theirs._dict), name
    for tag, elem in ours._dict.items():
        other = theirs._dict[tag]
        assert type(elem) is type(other), (name, tag)
        if isinstance(elem, RawDataElement):
            assert tuple(elem) == tuple(other), (name, tag)
        else:
            assert elem == other, (name, tag)


def _assert_as_pydicom_reads(path: Path) -> None:
    ours = part10.read(path, DEFER)
    theirs = pydicom.dcmread(path, force=True, defer_size=DEFER)
    assert ours.preamble == theirs.preamble, path.name
    _same_elements(ours.file_meta, theirs.file_meta, path.name)
    _same_elements(ours, theirs, path.name)
    assert ours.original_encoding == theirs.original_encoding, path.name
    assert ours.original_character_set == theirs.original_character_set, path.name
    assert (ours.filename, ours.fileobj_type, ours.timestamp) == (
        theirs.filename,
        theirs.fileobj_type,
        theirs.timestamp,
    ), path.name
    if 0x7FE00010 in ours._dict and ours._dict[0x7FE00010].value is None:  # deferred: read when asked
        assert ours.PixelData == theirs.PixelData, path.name


def _write(tmp_path: Path, name: str, ds: Dataset, syntax: str = "", **kwargs) -> Path:
    path = tmp_path / name
    if syntax:
        ds = copy.deepcopy(ds)
        ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(path, enforce_file_format=kwargs.pop("enforce_file_format", True), **kwargs)
    return path


def test_every_file_it_reads_is_read_as_pydicom_reads_it():
    """pydicom's own test files: those of the common case read the same, the others are left to pydicom."""
    read = left = sequences = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(p for p in TEST_FILES.rglob("*") if p.is_file() and p.stat().st_size < 4_000_000):
            try:
                pydicom.dcmread(path, force=True, defer_size=DEFER)
            except Exception:  # pydicom cannot read it: neither may we
                assert part10.read(path, DEFER) is None, path.name
                continue
            if part10.read(path, DEFER) is None:
                left += 1
                continue
            read += 1
            ours = part10.read(path, DEFER)
            sequences += any(
                isinstance(e, DataElement) and e.is_undefined_length for e in ours._dict.values()
            )
            _assert_as_pydicom_reads(path)
    assert read > 40 and left > 40 and sequences >= 5  # both ways taken, on many files, sequences too


def test_generated_instances_of_each_common_kind_are_read_fast(tmp_path):
    mr = make_study(n_instances=1, modality="MR", rows=256, cols=256)[0]
    ct = make_study(n_instances=1, modality="CT", rows=512, cols=512)[0]
    paths = [_write(tmp_path, "mr.dcm", mr), _write(tmp_path, "ct.dcm", ct)]
    paths.append(_write(tmp_path, "implicit.dcm", mr, ImplicitVRLittleEndian))
    mr.SpecificCharacterSet = "ISO_IR 192"
    mr.PatientName = "Bücher^Jörg"
    paths.append(_write(tmp_path, "utf8.dcm", mr))
    sequence = copy.deepcopy(ct)  # a sequence of undefined length, as scanners write them, with items
    sequence.ReferencedImageSequence = Sequence([Dataset(), Dataset()])
    sequence.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3"
    sequence.ReferencedImageSequence[1].ReferencedSOPInstanceUID = "1.2.4"
    sequence[0x00081140].is_undefined_length = True
    paths.append(_write(tmp_path, "sequence.dcm", sequence))
    small = make_study(n_instances=1, rows=64, cols=64)[0]
    small.add_new(0xFFFCFFFC, "OB", b"\0" * 64)  # trailing padding after the pixel data, in the head
    paths.append(_write(tmp_path, "padded.dcm", small))
    for path in paths:
        assert part10.read(path, DEFER) is not None, path.name
        _assert_as_pydicom_reads(path)


def test_what_it_leaves_to_pydicom(tmp_path, monkeypatch):
    """Compressed pixel data (undefined length), a sequence of undefined length in implicit VR, big
    endian, deflate, no DICM prefix, elements beyond the head, a file cut off: None, and read_instance
    still reads (or refuses) them through pydicom."""
    ds = make_study(n_instances=1, rows=128, cols=128)[0]
    sequence = copy.deepcopy(ds)
    sequence.ReferencedImageSequence = Sequence([Dataset()])
    sequence.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3"
    sequence[0x00081140].is_undefined_length = True
    cases = {
        "compressed": TEST_FILES / "MR_small_RLE.dcm",
        "implicit sequence": _write(tmp_path, "sq.dcm", sequence, ImplicitVRLittleEndian),
        "big endian": _write(tmp_path, "be.dcm", ds, ExplicitVRBigEndian),
        "deflated": TEST_FILES / "image_dfl.dcm",
    }
    whole = _write(tmp_path, "whole.dcm", ds)
    data = whole.read_bytes()
    group_length = int.from_bytes(data[140:144], "little")
    cases["no prefix"] = tmp_path / "bare.dcm"
    cases["no prefix"].write_bytes(data[144 + group_length :])  # the data set alone
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole.read_bytes()[:-100])  # the pixel data cut short
    cases["cut off"] = cut
    for case, path in cases.items():
        assert part10.read(path, DEFER) is None, case
        if case == "cut off":
            with pytest.raises(InvalidDicom, match="truncated"):
                dicomfiles.read_instance(path)
        else:
            assert dicomfiles.read_instance(path).SOPInstanceUID

    monkeypatch.setattr(part10, "HEAD_BYTES", 4096)
    padded = copy.deepcopy(ds)
    padded.add_new(0xFFFCFFFC, "OB", b"\0" * 64)
    assert part10.read(_write(tmp_path, "padded.dcm", padded), DEFER) is None  # after the pixel data
    assert part10.read(whole, DEFER) is not None  # only the deferred pixel data beyond the head
    _assert_as_pydicom_reads(whole)
    monkeypatch.setattr(part10, "HEAD_BYTES", 256)
    assert part10.read(whole, DEFER) is None  # the header itself is longer
