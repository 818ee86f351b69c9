"""The Review and Archive heuristics: values shaped like a person's name or a medical record number."""

import pytest

from archiving.identity import identity_warnings, looks_like_name, looks_like_record_number


@pytest.mark.parametrize(
    "value",
    [
        "DOE^JOHN",
        "Doe^John^^^",
        "Doe, John",
        "John Doe",
        "O'Brien^Mary",
        "Smith-Jones^Ann",
        "Müller^Jürgen",
        "Smith",
        "DOE_JOHN",
        "van der Berg^Anna",
    ],
)
def test_names(value):
    assert looks_like_name(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "SUBJ01",
        "sub-001",
        "ANONYMOUS",
        "Anonymous",
        "PHANTOM",
        "QA^PHANTOM",
        "MPRAGE",
        "brain",
        "12345678",
        "A^1",
        "DOE^JOHN2",
    ],
)
def test_not_names(value):
    assert not looks_like_name(value)


@pytest.mark.parametrize(
    "value", ["12345678", "MRN0012345", "12-345-678", "00123", "A1234567", "2024.01.12345"]
)
def test_record_numbers(value):
    assert looks_like_record_number(value)


@pytest.mark.parametrize("value", ["", "SUBJ01", "E123", "2024_01", "XNAT_E00001", "S00001", "CT1", "1234"])
def test_not_record_numbers(value):
    assert not looks_like_record_number(value)


def test_warnings_name_the_fields_and_labels_that_identify():
    fields = {
        "PatientName": "DOE^JANE",
        "PatientID": "00987654",
        "StudyDescription": "BRAIN^ROUTINE",
        "AccessionNumber": "ACC12345678",
    }
    warnings = identity_warnings(fields, subject="DOE_JANE", session="00987654")
    assert set(warnings) == {"PatientName", "PatientID", "AccessionNumber", "subject", "session"}
    assert warnings["PatientName"] == "looks like a person's name"
    assert "medical record number" in warnings["PatientID"]
    assert "'DOE_JANE' looks like a person's name" in warnings["subject"]


def test_no_warnings_for_coded_data():
    fields = {
        "PatientName": "SUBJ001",
        "PatientID": "SUBJ001_MR1",
        "StudyDescription": "Neuro",
        "AccessionNumber": "",
    }
    assert identity_warnings(fields, subject="SUBJ001", session="SUBJ001_MR1") == {}


# --- the identity policy -------------------------------------------------------------------------------
def test_the_policy_refuses_name_and_mrn_labels_unless_confirmed():
    from archiving.identity import label_findings, require_confirmed
    from xnatlite.errors import UnconfirmedIdentifiers

    assert label_findings(subject="SUBJ01", session="SUBJ01_MR1") == []
    assert require_confirmed(subject="SUBJ01", session="SUBJ01_MR1", confirmed=False) == []
    with pytest.raises(UnconfirmedIdentifiers) as refused:
        require_confirmed(subject="LOE_LISA", session="MRN0044444", confirmed=False)
    assert refused.value.findings == [
        "the subject label 'LOE_LISA' looks like a person's name",
        "the session label 'MRN0044444' looks like a medical record number",
    ]
    assert "Not archived: the subject label 'LOE_LISA'" in refused.value.message
    assert require_confirmed(subject="LOE_LISA", session="E1", confirmed=True) == [
        "the subject label 'LOE_LISA' looks like a person's name"
    ]
