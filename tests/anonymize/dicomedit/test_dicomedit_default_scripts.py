"""The default site and project scripts on pydicom's bundled files and on generated datasets."""

import re
import shutil
import warnings

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, SecondaryCaptureImageStorage

from anonymize.defaults import default_project_script_text, default_site_script_text
from anonymize.dicomedit import RecordInfo, apply_to_file, parse_script
from tests.anonymize.dicomedit.datasets import VARIABLES, bundled

SITE = parse_script(default_site_script_text())
PROJECT = parse_script(default_project_script_text())
SITE_RECORD = RecordInfo(
    "site", "xnatlite default site script (PS3.15 E.1 Basic Profile)", deidentifying=True
)
PROJECT_RECORD = RecordInfo("P1", "project script", deidentifying=False)
REMOVED = frozenset(
    int(t.replace(",", ""), 16)
    for t in re.findall(r"^- \*/\((\w{4},\w{4})\)", default_site_script_text(), re.M)
)
EMPTIED = frozenset(
    int(t.replace(",", ""), 16)
    for t in re.findall(r'^\*/\((\w{4},\w{4})\) \?= ""', default_site_script_text(), re.M)
)
PATIENT_AGE = 0x00101010  # kept at the top level (Retain Patient Characteristics, for the age alone)
KEPT_UID_KEYWORDS = re.compile(r".*ClassUID|TransferSyntaxUID|CodingSchemeUID|ContextUID|MappingResourceUID")

BUNDLED = [
    "CT_small.dcm",
    "MR_small.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "rtdose.dcm",
    "nested_priv_SQ.dcm",
    "priv_SQ.dcm",
    "reportsi.dcm",
    "test-SR.dcm",
    "waveform_ecg.dcm",
    "liver_1frame.dcm",
    "examples_overlay.dcm",
]


def test_default_scripts_parse():
    assert SITE.version == "6.3" and PROJECT.version == "6.3"
    assert {0x00100030, 0x00080080} <= REMOVED | EMPTIED  # birth date, institution name
    assert not {0x00080050, 0x00081030, 0x00100010, 0x00100020} & (REMOVED | EMPTIED)  # the four kept fields
    assert not {0x0008103E, 0x00181030} & (REMOVED | EMPTIED)  # descriptors that type the scans


def original_uids(ds: Dataset) -> set[str]:
    """Every instance UID value in the dataset, at any depth (not classes, syntaxes or DICOM's own root)."""
    found = set()
    for elem in ds.iterall():
        if elem.VR == "UI" and elem.value and not KEPT_UID_KEYWORDS.fullmatch(elem.keyword or ""):
            values = (
                elem.value if isinstance(elem.value, list | pydicom.multival.MultiValue) else [elem.value]
            )
            found |= {str(v) for v in values if v and not str(v).startswith("1.2.840.10008")}
    return found


def as_part10(name: str, path) -> Dataset:
    """Copy a bundled file to ``path`` as a Part 10 file (some bundled files lack the file meta)."""
    ds = pydicom.dcmread(bundled(name), force=True)
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, _ = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    if not ds.file_meta.get("MediaStorageSOPClassUID"):  # nested_priv_SQ.dcm and priv_SQ.dcm have no SOP
        ds.file_meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", SecondaryCaptureImageStorage)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3.999")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path)


@pytest.mark.parametrize("name", BUNDLED)
def test_site_then_project_script_leave_no_identifier(tmp_path, name):
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    original = as_part10(name, src)
    identifiers = {
        str(original.get(keyword, "") or "")
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName")
    } - {""}
    uids = original_uids(original)

    apply_to_file(src, dst, SITE, VARIABLES, SITE_RECORD)
    apply_to_file(dst, dst, PROJECT, VARIABLES, PROJECT_RECORD)

    raw = dst.read_bytes()
    result = pydicom.dcmread(dst)
    for keyword in ("PatientName", "PatientID"):  # nowhere in the bytes, not even in an undecoded element
        text = str(original.get(keyword, "") or "")
        if len(text) >= 6:
            assert text.encode() not in raw, text
    values = {str(elem.value) for elem in result.iterall() if elem.VR != "SQ"}
    assert not identifiers & values
    assert not uids & original_uids(result)
    assert result.file_meta.MediaStorageSOPInstanceUID not in uids
    assert result.file_meta.MediaStorageSOPInstanceUID == result.get(
        "SOPInstanceUID", result.file_meta.MediaStorageSOPInstanceUID
    )
    assert not any(elem.tag.is_private for elem in result.iterall())
    assert result.get("PixelData") == original.get("PixelData")
    assert (result.PatientName, result.PatientID, result.get("StudyDescription")) == ("S1", "E1", "P1")
    assert result.PatientIdentityRemoved == "YES"
    assert [(c.CodeValue, c.CodingSchemeDesignator) for c in result.DeidentificationMethodCodeSequence] == [
        ("site", "99XNATLITE"),
        ("P1", "99XNATLITE"),
    ]
    assert result.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert result.get("SOPClassUID") == original.get("SOPClassUID")


def test_a_study_keeps_one_study_instance_uid_across_files_and_resends(tmp_path):
    src = tmp_path / "ct.dcm"
    as_part10("CT_small.dcm", src)
    copy = tmp_path / "ct-again.dcm"
    shutil.copy(src, copy)
    out1, out2 = tmp_path / "a.dcm", tmp_path / "b.dcm"
    apply_to_file(src, out1, SITE, VARIABLES)
    apply_to_file(copy, out2, SITE, VARIABLES)
    first, second = pydicom.dcmread(out1), pydicom.dcmread(out2)
    assert first.StudyInstanceUID == second.StudyInstanceUID != pydicom.dcmread(src).StudyInstanceUID
    assert first.SOPInstanceUID == second.SOPInstanceUID


# --- generated datasets --------------------------------------------------------------------------------

SAMPLE_VALUES = {
    "AE": "STATION1",
    "AS": "042Y",
    "CS": "SECRET",
    "DA": "20240101",
    "DS": "1.5",
    "DT": "20240101120000",
    "FL": 1.0,
    "FD": 1.0,
    "IS": "3",
    "LO": "secret text",
    "LT": "secret text",
    "SH": "secret",
    "ST": "secret text",
    "UC": "secret text",
    "UT": "secret text",
    "PN": "Doe^Jane",
    "TM": "120000",
    "UI": "1.2.3.4",
    "UL": 1,
    "US": 1,
    "SS": 1,
    "SL": 1,
    "OB": b"\x00\x01",
    "OW": b"\x00\x01",
    "UN": b"\x00\x01",
    "UR": "http://example.org",
}


def _vr(tag: int) -> str:
    return dictionary_VR(tag).split(" or ")[0]


ANNEX_E_TAGS = sorted(t for t in REMOVED | EMPTIED if _vr(t) in SAMPLE_VALUES or _vr(t) == "SQ")


@st.composite
def annex_e_dataset(draw, depth: int = 0) -> Dataset:
    ds = Dataset()
    for tag in draw(st.lists(st.sampled_from(ANNEX_E_TAGS), max_size=8, unique=True)):
        vr = _vr(tag)
        if vr == "SQ":
            child = draw(annex_e_dataset(depth + 1)) if depth < 3 else Dataset()
            ds.add_new(tag, vr, Sequence([child]))
        else:
            ds.add_new(tag, vr, SAMPLE_VALUES[vr])
    if depth < 3 and draw(st.booleans()):  # a kept sequence that carries more identifiers below it
        ds.ReferencedImageSequence = Sequence([draw(annex_e_dataset(depth + 1))])
    if draw(st.booleans()):
        block = ds.private_block(draw(st.sampled_from([0x0009, 0x0019, 0x0029])), "ACME 1.0", create=True)
        block.add_new(0x01, "LO", "private secret")
        if depth < 3 and draw(st.booleans()):
            block.add_new(0x02, "SQ", Sequence([draw(annex_e_dataset(depth + 1))]))
    return ds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annex_e_dataset())
def test_site_script_removes_annex_e_attributes_everywhere(ds):
    SITE.apply(ds, VARIABLES)
    age = ds.get("PatientAge")
    assert age is None or re.fullmatch(r"0[0-8][0-9][DWMY]|090Y|0[0-9][0-9][DWM]", age), age  # kept, grouped
    for elem in ds.iterall():
        assert not elem.tag.is_private, elem
        if elem.tag == PATIENT_AGE:
            assert ds.get_item(PATIENT_AGE) is not None and ds[PATIENT_AGE] is elem, "an age in a sequence"
            continue
        assert elem.tag not in REMOVED, f"{keyword_for_tag(elem.tag)} survived"
        if elem.tag in EMPTIED:
            assert elem.VR == "SQ" and len(elem.value) == 0 or elem.value in ("", None, b""), elem


def test_site_script_keeps_the_dates_researchers_use():
    ds = pydicom.dcmread(bundled("CT_small.dcm"))
    kept = {
        keyword: ds.get(keyword)
        for keyword in (
            "StudyDate",
            "SeriesDate",
            "AcquisitionDate",
            "ContentDate",
            "StudyTime",
            "SeriesTime",
        )
    }
    assert all(kept.values()), kept
    SITE.apply(ds, VARIABLES)
    assert {keyword: ds.get(keyword) for keyword in kept} == kept
    assert ds.get("PatientBirthDate") == ""  # the birth date still goes


@pytest.mark.parametrize(
    ("birth", "age", "expected"),
    [
        ("19800102", None, "044Y"),  # computed from the birth date and the study date
        ("19800102", "031Y", "031Y"),  # the scanner's value wins
        ("19200101", None, "090Y"),  # 90 and over are grouped
        ("", "095Y", "090Y"),
        ("", None, None),  # nothing to compute it from: no age is made up
    ],
)
def test_site_script_keeps_the_age_at_the_scan(birth, age, expected):
    ds = Dataset()
    ds.PatientBirthDate, ds.StudyDate = birth, "20240131"
    if age is not None:
        ds.PatientAge = age
    ds.ReferencedImageSequence = Sequence([Dataset()])
    ds.ReferencedImageSequence[0].PatientAge = "044Y"  # inside a sequence: removed, as any X attribute
    SITE.apply(ds, VARIABLES)
    assert ds.get("PatientAge") == expected
    assert ds.PatientBirthDate == ""
    assert "PatientAge" not in ds.ReferencedImageSequence[0]
