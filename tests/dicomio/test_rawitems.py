"""Scripts edit still-raw sequences in their bytes (rawitems.py): the result must be what decoding them
first gives, element for element and byte for byte, for the default scripts and for hand-made files."""

import io
import warnings

import pydicom
import pytest
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, MRImageStorage

from anonymize.defaults import default_project_script_text, default_site_script_text
from anonymize.dicomedit import RecordInfo, parse_script
from dicomio.rawitems import KEEP, Unsupported, edit_sequence, editable
from tests.anonymize.dicomedit.datasets import VARIABLES, bundled, item, seq

SITE = parse_script(default_site_script_text())
PROJECT = parse_script(default_project_script_text())
SITE_RECORD = RecordInfo("site", "xnatlite default site script", deidentifying=True)
PROJECT_RECORD = RecordInfo("P1", "project script", deidentifying=False)


def hand_made(syntax: str = ExplicitVRLittleEndian) -> bytes:
    """A Part 10 file with defined- and undefined-length items and sequences, nested three deep, private
    elements, UIDs and attributes the site script removes or empties inside items."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SOPClassUID, ds.SOPInstanceUID, ds.StudyInstanceUID = MRImageStorage, "1.2.3.4.5", "1.2.3.4"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^John", "MRN123", "19800102"
    ds.ReferencedImageSequence = seq(
        item(ReferencedSOPClassUID=MRImageStorage, ReferencedSOPInstanceUID="1.2.3.4.6"),
        item(ReferencedSOPClassUID=MRImageStorage, ReferencedSOPInstanceUID="1.2.3.4.77"),
    )
    ds.ReferencedImageSequence[1].is_undefined_length_sequence_item = True
    request = item(RequestedProcedureID="RP1", ScheduledProcedureStepID="SPS1", AccessionNumber="A1")
    request.ReferencedPatientSequence = seq(item(ReferencedSOPInstanceUID="1.2.3.4.8"))
    request.ScheduledProtocolCodeSequence = seq(item(CodeValue="P1", CodingSchemeDesignator="L"))
    request.ScheduledProtocolCodeSequence[0].ContentSequence = seq(
        item(UID="1.2.3.4.9", PersonName="Someone^Else", ObservationDateTime="20240101101010")
    )
    request["ScheduledProtocolCodeSequence"].is_undefined_length = True
    block = request.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "private text")
    ds.SourceImageSequence = seq(request)
    ds.ProcedureCodeSequence = seq(item(CodeValue="X1", PatientAge="054Y"))
    ds.ReferencedStudySequence = seq(item(ReferencedSOPInstanceUID="1.2.3.4.10"))
    ds.private_block(0x0019, "ACME 1.0", create=True).add_new(0x02, "SH", "top private")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def decoded(data: bytes) -> Dataset:
    """The file read with every sequence decoded, as the statements saw it before rawitems.py."""
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    for _elem in ds.iterall():  # iterall decodes every raw element, sequences first
        pass
    return ds


def apply_both(data: bytes, *scripts) -> tuple[Dataset, Dataset]:
    raw, full = pydicom.dcmread(io.BytesIO(data), force=True), decoded(data)
    for ds in (raw, full):
        for script, record in scripts:
            assert not script.apply(ds, VARIABLES, record=record).rejected
    return raw, full


def encoded(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def raw_sequences(ds: Dataset) -> set[str]:
    return {
        ds[tag].keyword
        for tag, elem in ds._dict.items()
        if isinstance(elem, RawDataElement) and elem.VR == "SQ"
    }


def test_the_site_script_edits_raw_sequences_as_decoding_them_would():
    data = hand_made()
    raw, full = apply_both(data, (SITE, SITE_RECORD))
    # The sequences were edited in their bytes: still raw, yet exactly what the decoded run writes.
    assert {
        "ReferencedImageSequence",
        "SourceImageSequence",
        "ProcedureCodeSequence",
    } <= raw_sequences(raw)
    assert encoded(raw) == encoded(full)
    result = pydicom.dcmread(io.BytesIO(encoded(raw)))
    assert result == full
    references = [i.ReferencedSOPInstanceUID for i in result.ReferencedImageSequence]
    assert references[0].startswith("2.25.") and references[1].startswith("2.25.")
    assert result.ReferencedImageSequence[1].is_undefined_length_sequence_item
    request = result.SourceImageSequence[0]
    assert "ReferencedPatientSequence" not in request  # X at any depth, even inside an item
    assert not any(elem.tag.is_private for elem in result.iterall())
    assert request.ScheduledProtocolCodeSequence[0].ContentSequence == []  # emptied at depth 2
    assert request["ScheduledProtocolCodeSequence"].is_undefined_length
    assert "PatientAge" not in result.ProcedureCodeSequence[0]
    assert result.ReferencedStudySequence == []  # emptied at the top level
    assert result.DeidentificationMethodCodeSequence[0].CodeValue == "site"


def test_site_then_project_script_append_to_the_raw_record_sequence():
    data = hand_made()
    raw, full = apply_both(data, (SITE, SITE_RECORD), (PROJECT, PROJECT_RECORD))
    assert "DeidentificationMethodCodeSequence" in raw_sequences(raw)
    assert encoded(raw) == encoded(full)
    result = pydicom.dcmread(io.BytesIO(encoded(raw)))
    assert [
        (c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning)
        for c in result.DeidentificationMethodCodeSequence
    ] == [
        ("site", "99XNATLITE", "xnatlite default site script"),
        ("P1", "99XNATLITE", "project script"),
    ]
    assert result.PatientIdentityRemoved == "YES"
    assert result.DeidentificationMethod == "xnatlite default site script"


def test_implicit_vr_sequences_are_decoded_as_before():
    data = hand_made(ImplicitVRLittleEndian)
    raw, full = apply_both(data, (SITE, SITE_RECORD))
    assert not raw_sequences(raw)
    assert encoded(raw) == encoded(full)


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm", "nested_priv_SQ.dcm", "test-SR.dcm"],
)
def test_bundled_files_give_what_decoding_them_gives(name):
    data = bundled(name).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw, full = apply_both(data, (SITE, SITE_RECORD), (PROJECT, PROJECT_RECORD))
        assert pydicom.dcmread(io.BytesIO(encoded(raw)), force=True) == pydicom.dcmread(
            io.BytesIO(encoded(full)), force=True
        )


def test_a_value_that_needs_encoding_falls_back_to_decoding():
    ds = pydicom.dcmread(io.BytesIO(hand_made()))
    script = parse_script('version "6.3"\n*/(0040,1001) ?= "naïve"\n*/(0010,0010) ?= "X"\n')
    script.apply(ds, VARIABLES)
    assert "SourceImageSequence" not in raw_sequences(ds)  # decoded: ï is not the same in every charset
    assert ds.SourceImageSequence[0].RequestedProcedureID == "naïve"


def test_edit_sequence_refuses_bytes_it_does_not_understand():
    ds = pydicom.dcmread(io.BytesIO(hand_made()))
    elem = ds._dict[0x00081140]
    assert editable(elem)
    cut = elem._replace(value=elem.value[:-3], length=len(elem.value) - 3)
    with pytest.raises(Unsupported):
        edit_sequence(cut, lambda tag, vr, value: KEEP)
    not_an_item = elem._replace(value=b"\x08\x00\x50\x00" + elem.value[4:])
    with pytest.raises(Unsupported):
        edit_sequence(not_an_item, lambda tag, vr, value: KEEP)
    assert edit_sequence(elem, lambda tag, vr, value: KEEP) is elem  # nothing changed: the same element
    assert not editable(DataElement(0x00081140, "SQ", []))
