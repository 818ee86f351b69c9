"""apply_to_file: atomic writes, file meta kept in step, clear errors for files that are not DICOM."""

import os

import pydicom
import pytest

from anonymize.dicomedit import (
    InvalidDicomFile,
    RecordInfo,
    ScriptRuntimeError,
    apply_to_file,
    hash_uid,
    parse_script,
)
from tests.anonymize.dicomedit.datasets import VARIABLES, bundled

REMAP = parse_script('version "6.3"\n(0008,0018) := hashUID[(0008,0018)]\n(0010,0010) := subject')


def test_it_writes_the_result_and_keeps_the_file_meta_in_step(workdir):
    dst = workdir / "out.dcm"
    apply_to_file(bundled("MR_small.dcm"), dst, REMAP, VARIABLES)
    original, result = pydicom.dcmread(bundled("MR_small.dcm")), pydicom.dcmread(dst)
    assert result.PatientName == "S1"
    assert (
        result.SOPInstanceUID
        == hash_uid(original.SOPInstanceUID)
        == result.file_meta.MediaStorageSOPInstanceUID
    )
    assert result.file_meta.MediaStorageSOPClassUID == original.file_meta.MediaStorageSOPClassUID
    assert result.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert result.PixelData == original.PixelData
    assert sorted(os.listdir(workdir)) == ["out.dcm"]


def test_it_can_replace_the_source_in_place(workdir):
    path = workdir / "ct.dcm"
    path.write_bytes(bundled("CT_small.dcm").read_bytes())
    record = RecordInfo("site", "site script", deidentifying=True)
    apply_to_file(path, path, REMAP, VARIABLES, record)
    result = pydicom.dcmread(path)
    assert result.PatientName == "S1"
    assert result.PatientIdentityRemoved == "YES"
    assert result.DeidentificationMethod == "site script"
    assert sorted(os.listdir(workdir)) == ["ct.dcm"]


def test_it_keeps_big_endian_files_big_endian(workdir):
    dst = workdir / "out.dcm"
    apply_to_file(bundled("MR_small_bigendian.dcm"), dst, REMAP, VARIABLES)
    assert pydicom.dcmread(dst).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.2"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("MR_truncated.dcm", None),
        ("rtplan_truncated.dcm", None),
        ("random.dcm", bytes(range(256)) * 8),
        ("empty.dcm", b""),
        ("preamble_only.dcm", b"\x00" * 128 + b"DICM"),
        ("text.dcm", b"this is not an image\n" * 20),
    ],
)
def test_it_refuses_files_that_are_not_complete_dicom(workdir, name, content):
    src = workdir / name
    src.write_bytes(content if content is not None else bundled(name).read_bytes())
    before = src.read_bytes()
    with pytest.raises(InvalidDicomFile, match=name):
        apply_to_file(src, src, REMAP, VARIABLES)
    assert src.read_bytes() == before
    assert sorted(os.listdir(workdir)) == [name]


def test_a_runtime_error_leaves_the_destination_untouched(workdir):
    path = workdir / "mr.dcm"
    path.write_bytes(bundled("MR_small.dcm").read_bytes())
    before = path.read_bytes()
    failing = parse_script('version "6.3"\n(0010,0010) := "changed"\n(0028,0010) := "not a number"')
    with pytest.raises(ScriptRuntimeError, match=r"line 3 .*'not a number' is not a valid US value"):
        apply_to_file(path, path, failing, VARIABLES)
    assert path.read_bytes() == before
    assert sorted(os.listdir(workdir)) == ["mr.dcm"]


def test_a_rejected_object_is_not_written(workdir):
    dst = workdir / "out.dcm"
    result = apply_to_file(bundled("CT_small.dcm"), dst, parse_script('version "6.6"\nreject'), VARIABLES)
    assert result.rejected
    assert not dst.exists()
