"""The functions: string helpers, UIDs, date shifting."""

import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from anonymize.dicomedit import ScriptRuntimeError, hash_uid
from tests.anonymize.dicomedit.datasets import item, run, seq

REPOSITORY = Path(__file__).resolve().parents[3]


def value(expression: str, ds: Dataset | None = None) -> str:
    """Evaluate an expression by assigning it to Study Description."""
    ds = ds if ds is not None else Dataset()
    run(f"(0020,4000) := {expression}", ds)
    return str(ds.ImageComments)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('format["{0}_{1}", "a", "b"]', "a_b"),
        ('format["{1}-{0}-{1}", "a", "b"]', "b-a-b"),
        ('format["it\'\'s {0}", "x"]', "it's x"),
        ('format["\'{0}\' is {0}", "x"]', "{0} is x"),
        ('format["{0} {5}", "x"]', "x {5}"),
        ('format["{0}", 12]', "12"),
        ('lowercase["AbC"]', "abc"),
        ('uppercase["AbC"]', "ABC"),
        ('replace["a.b.c", ".", "_"]', "a_b_c"),
        ('replace["a+b", "+", "\\\\"]', "a\\b"),
        ('substring["abcdef", 1, 3]', "bc"),
        ('substring["abcdef", 2]', "cdef"),
        ('substring["abc", 1, 10]', "bc"),
        ('concatenate["a", 1, "b"]', "a1b"),
        ('match["Scan_042_T1", "Scan_(\\\\d+)_(.*)", 1]', "042"),
        ('match["Scan_042_T1", "Scan_(\\\\d+)_(.*)", 2]', "T1"),
        ('match["nope", "Scan_(\\\\d+)", 1]', ""),
        ('ismatch["MR123", "MR\\\\d+"]', "true"),
        ('ismatch["MR123x", "MR\\\\d+"]', "false"),
        ('urlEncode["a b&c"]', "a+b%26c"),
        ('hashUID["1.2.3"]', hash_uid("1.2.3")),
    ],
)
def test_string_functions(expression, expected):
    assert value(expression) == expected


def test_functions_read_tags_and_variables():
    ds = Dataset()
    ds.PatientID = "MRN1"
    assert value('format["{0}/{1}", (0010,0020), project]', ds) == "MRN1/P1"
    assert value("lowercase[uppercase[subject]]", ds) == "s1"


def test_match_with_a_missing_group_fails_clearly():
    with pytest.raises(ScriptRuntimeError, match="no group 3"):
        value('match["ab", "(a)(b)", 3]')


def test_hash_uid_is_a_deterministic_2_25_uid():
    uid = hash_uid("1.2.840.113619.2.55.3.1")
    assert uid.startswith("2.25.") and len(uid) <= 64
    assert uid == hash_uid("1.2.840.113619.2.55.3.1")
    assert uid != hash_uid("1.2.840.113619.2.55.3.2")
    assert int(uid[5:]) >> 76 & 0xF == 5  # the UUID version nibble: name-based, SHA-1
    assert hash_uid("1.2.3", "MD5") != hash_uid("1.2.3")


def test_hash_uid_is_the_same_in_another_process():
    code = "from anonymize.dicomedit import hash_uid; print(hash_uid('1.2.840.113619.2.55.3.1'))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPOSITORY
    )
    assert other.stdout.strip() == hash_uid("1.2.840.113619.2.55.3.1")


def test_hash_uid_maps_a_study_consistently_across_datasets():
    first, second = Dataset(), Dataset()
    for ds, sop in ((first, "1.2.3.4.1"), (second, "1.2.3.4.2")):
        ds.StudyInstanceUID = "1.2.3.4"
        ds.SOPInstanceUID = sop
        ds.ReferencedImageSequence = seq(item(ReferencedSOPInstanceUID="1.2.3.4.1"))
    script = "(0020,000D) := hashUID[(0020,000D)]\n*/(0008,0018) ?= hashUID[*/(0008,0018)]\n*/(0008,1155) ?= hashUID[*/(0008,1155)]"
    run(script, first)
    run(script, second)
    assert first.StudyInstanceUID == second.StudyInstanceUID == hash_uid("1.2.3.4")
    assert first.SOPInstanceUID != second.SOPInstanceUID
    # The reference in the second file points at the first file's new SOP Instance UID.
    assert second.ReferencedImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID


def test_hash_uid_of_multi_valued_and_empty_uids():
    ds = Dataset()
    ds.FailedSOPInstanceUIDList = ["1.2.3", "1.2.4"]
    ds.InstanceCreatorUID = ""
    run("(0008,0058) := hashUID[(0008,0058)]\n(0008,0014) ?= hashUID[(0008,0014)]", ds)
    assert list(ds.FailedSOPInstanceUIDList) == [hash_uid("1.2.3"), hash_uid("1.2.4")]
    assert ds.InstanceCreatorUID == ""


def test_unknown_hash_algorithm_fails_clearly():
    with pytest.raises(ScriptRuntimeError, match="unknown algorithm 'CRC'"):
        value('hashUID["1.2", "CRC"]')


@pytest.mark.parametrize(
    ("keyword", "before", "call", "after"),
    [
        ("StudyDate", "20240131", 'shiftDateByIncrement[(0008,0020), "-365"]', "20230131"),
        ("StudyDate", "20240228", "shiftDateByIncrement[(0008,0020), 2]", "20240301"),
        ("StudyDate", "20240131", 'shiftDateByIncrement[(0008,0020), -1, "hours"]', "20240130"),
        (
            "AcquisitionDateTime",
            "20240131235959.123+0100",
            'shiftDateTimeByIncrement[(0008,002A), "1"]',
            "20240201000000.123+0100",
        ),
        (
            "AcquisitionDateTime",
            "202401312359",
            'shiftDateTimeByIncrement[(0008,002A), 2, "minutes"]',
            "202402010001",
        ),
        ("AcquisitionDateTime", "20240131", 'shiftDateTimeByIncrement[(0008,002A), 1, "days"]', "20240201"),
        ("StudyTime", "235930.5", 'shiftDateTimeByIncrement[(0008,0030), "45"]', "000015.5"),
        ("StudyTime", "2359", 'shiftDateTimeByIncrement[(0008,0030), 2, "minutes"]', "0001"),
    ],
)
def test_date_shifting(keyword, before, call, after):
    ds = Dataset()
    setattr(ds, keyword, before)
    tag = call[call.index("[") + 1 : call.index(")") + 1]
    run(f"{tag} := {call}", ds)
    assert str(ds[keyword].value) == after


def test_date_shift_at_any_depth_uses_each_element():
    ds = Dataset()
    ds.ReferencedImageSequence = seq(item(StudyDate="20240101"), item(StudyDate="20200229"))
    run('*/(0008,0020) ?= shiftDateByIncrement[*/(0008,0020), "1"]', ds)
    assert [i.StudyDate for i in ds.ReferencedImageSequence] == ["20240102", "20200301"]


def test_invalid_date_is_left_unchanged_with_a_warning():
    ds = Dataset()
    ds.StudyDate = "2024XX31"
    result = run('(0008,0020) := shiftDateByIncrement[(0008,0020), "-365"]', ds)
    assert ds.StudyDate == "2024XX31"
    assert result.warnings == ["shiftDateByIncrement: '2024XX31' is not a valid DA; left unchanged"]


def test_date_shift_of_a_string_and_a_missing_tag():
    ds = Dataset()
    run(
        '(0008,0021) := shiftDateByIncrement["20240101", 10]\n(0008,0022) := shiftDateByIncrement[(0008,0023), 1]',
        ds,
    )
    assert ds.SeriesDate == "20240111"
    assert ds.AcquisitionDate == ""


def test_bad_increment_and_unit_fail_clearly():
    ds = Dataset()
    ds.StudyDate = "20240101"
    with pytest.raises(ScriptRuntimeError, match="'soon' is not an integer"):
        run('(0008,0020) := shiftDateByIncrement[(0008,0020), "soon"]', ds)
    with pytest.raises(ScriptRuntimeError, match="unknown unit 'weeks'"):
        run('(0008,0020) := shiftDateByIncrement[(0008,0020), 1, "weeks"]', ds)
