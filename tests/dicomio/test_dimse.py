"""The receiver's hand-written DICOM encodings, checked against pydicom: command sets, the spool's file
meta, and the receive-time check that decides C210."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import decode, encode

from dicomio import dimse
from dicomio.errors import InvalidDicom
from dicomio.files import read_instance
from tests.dicomgen import make_instance, pydicom_test_file

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def dataset_bytes(ds: Dataset, transfer_syntax=ExplicitVRLittleEndian) -> bytes:
    """The encoded data set alone (no preamble, no meta), as it travels over an association."""
    out = DicomBytesIO()
    out.is_implicit_VR, out.is_little_endian = (
        transfer_syntax.is_implicit_VR,
        transfer_syntax.is_little_endian,
    )
    write_dataset(out, ds)
    return out.getvalue()


def body_of(path: Path) -> tuple[bytes, str] | None:
    """(data set bytes, transfer syntax) of a Part 10 file, None for a file without a complete meta."""
    try:
        meta = read_file_meta_info(path)
    except Exception:
        return None
    if "TransferSyntaxUID" not in meta or "FileMetaInformationGroupLength" not in meta:
        return None
    data = path.read_bytes()
    if data[128:132] != b"DICM":
        return None
    return data[132 + 12 + meta.FileMetaInformationGroupLength :], str(meta.TransferSyntaxUID)


def test_the_check_agrees_with_pydicom_on_every_bundled_file():
    """What ingest can read, the receiver accepts; what it refuses (truncated, no SOP UIDs), C210."""
    disagreements, checked = [], 0
    for path in sorted(p for p in TEST_FILES.rglob("*") if p.is_file()):
        body = body_of(path)
        if body is None:
            continue
        try:
            read_instance(path)
            readable = True
        except InvalidDicom:
            readable = False
        try:
            dimse.check_dataset(*body)
            accepted = True
        except InvalidDicom:
            accepted = False
        checked += 1
        if readable != accepted and body[1] not in dimse.DEFLATED:
            disagreements.append((path.name, readable, accepted))
    assert checked > 150
    assert disagreements == []


@pytest.mark.parametrize(
    "transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
)
def test_it_returns_the_sop_uids_and_walks_nested_sequences(transfer_syntax):
    ds = make_instance(
        study_instance_uid="1.2.3", series_instance_uid="1.2.3.4", series_number=1, instance_number=1
    )
    inner = Dataset()
    inner.CodeValue, inner.CodeMeaning = "113100", "Basic Application Confidentiality Profile"
    deeper = Dataset()
    deeper.CodeValue = "X"
    inner.PurposeOfReferenceCodeSequence = Sequence([deeper])
    ds.DeidentificationMethodCodeSequence = Sequence([inner, inner])
    data = dataset_bytes(ds, transfer_syntax)
    assert dimse.check_dataset(data, transfer_syntax) == (ds.SOPClassUID, ds.SOPInstanceUID)


def test_undefined_length_sequences_and_encapsulated_pixel_data_are_walked():
    body, transfer_syntax = body_of(pydicom_test_file("JPEG2000.dcm"))  # encapsulated, fragments
    assert dimse.check_dataset(body, transfer_syntax)[1]
    with pytest.raises(InvalidDicom, match="truncated"):
        dimse.check_dataset(body[:-10], transfer_syntax)  # the sequence delimiter is missing


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda data: b"this is not DICOM at all" * 10, "Not a DICOM data set|truncated"),
        (lambda data: data[:-100], "truncated"),
        (lambda data: data[:5], "empty"),
        (lambda data: b"", "empty"),
    ],
)
def test_garbage_and_truncation_are_refused(mangle, message):
    ds = make_instance(
        study_instance_uid="1.2.3", series_instance_uid="1.2.3.4", series_number=1, instance_number=1
    )
    with pytest.raises(InvalidDicom, match=message):
        dimse.check_dataset(mangle(dataset_bytes(ds)), ExplicitVRLittleEndian)


@pytest.mark.parametrize("keyword", ["SOPClassUID", "SOPInstanceUID"])
def test_an_object_without_a_sop_uid_is_refused(keyword):
    ds = make_instance(
        study_instance_uid="1.2.3", series_instance_uid="1.2.3.4", series_number=1, instance_number=1
    )
    delattr(ds, keyword)
    with pytest.raises(InvalidDicom, match="lacks its SOP"):
        dimse.check_dataset(dataset_bytes(ds), ExplicitVRLittleEndian)


def test_a_few_zero_bytes_after_the_last_element_are_padding():
    ds = make_instance(
        study_instance_uid="1.2.3", series_instance_uid="1.2.3.4", series_number=1, instance_number=1
    )
    assert (
        dimse.check_dataset(dataset_bytes(ds) + b"\0\0\0\0", ExplicitVRLittleEndian)[1] == ds.SOPInstanceUID
    )


def test_a_deflated_data_set_is_left_to_processing():
    assert dimse.check_dataset(b"\x78\x9c garbage", "1.2.840.10008.1.2.1.99") == ("", "")


def test_command_sets_read_and_written_as_pydicom_does():
    request = Dataset()
    request.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    request.CommandField = dimse.C_STORE_RQ
    request.MessageID = 7
    request.Priority = 0
    request.CommandDataSetType = 0x0000
    request.AffectedSOPInstanceUID = "1.2.3.4.5"
    command = dimse.parse_command(encode(request, True, True))
    assert dimse.command_int(command, dimse.COMMAND_FIELD) == dimse.C_STORE_RQ
    assert dimse.command_uid(command, dimse.AFFECTED_SOP_INSTANCE_UID) == "1.2.3.4.5"

    answer = decode(io.BytesIO(dimse.response(command, 0xA700)), True, True)
    assert answer.CommandGroupLength == len(dimse.response(command, 0xA700)) - 12
    assert (answer.CommandField, answer.MessageIDBeingRespondedTo, answer.Status) == (0x8001, 7, 0xA700)
    assert (answer.AffectedSOPClassUID, answer.AffectedSOPInstanceUID) == (
        request.AffectedSOPClassUID,
        "1.2.3.4.5",
    )
    assert answer.CommandDataSetType == dimse.NO_DATA_SET

    echo = dimse.parse_command(encode(_echo_request(), True, True))
    answer = decode(io.BytesIO(dimse.response(echo, 0)), True, True)
    assert (answer.CommandField, answer.Status, "AffectedSOPInstanceUID" in answer) == (0x8030, 0, False)
    with pytest.raises(InvalidDicom):
        dimse.parse_command(encode(request, True, True)[:-3])


def _echo_request() -> Dataset:
    request = Dataset()
    request.AffectedSOPClassUID = "1.2.840.10008.1.1"
    request.CommandField = dimse.C_ECHO_RQ
    request.MessageID = 1
    request.CommandDataSetType = dimse.NO_DATA_SET
    return request


@pytest.mark.parametrize("address", ["10.1.2.3", "fe80::1"])
def test_the_spool_meta_is_a_part_10_header_naming_sender_and_receiver(tmp_path, address):
    ds = make_instance(
        study_instance_uid="1.2.3", series_instance_uid="1.2.3.4", series_number=1, instance_number=1
    )
    arrival = dimse.Arrival("SCANNER1", "XNATLITE", address, 11112)
    path = tmp_path / "spooled.dcm"
    meta = dimse.file_meta(ds.SOPClassUID, ds.SOPInstanceUID, ExplicitVRLittleEndian, arrival)
    path.write_bytes(meta + dataset_bytes(ds))
    stored = pydicom.dcmread(path)
    assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert stored.file_meta.SourceApplicationEntityTitle == "SCANNER1"
    assert stored.file_meta.ReceivingApplicationEntityTitle == "XNATLITE"
    assert stored.PixelData == ds.PixelData
    assert dimse.read_arrival(path) == arrival
    (tmp_path / "other.dcm").write_bytes(b"\0" * 200)
    assert dimse.read_arrival(tmp_path / "other.dcm") is None
