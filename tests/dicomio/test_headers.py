"""Reading Patient Name and Patient ID from a file's bytes agrees with pydicom, and says "cannot
tell" (so the file is rewritten) whenever it is unsure."""

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from dicomio.headers import holds_labels
from tests.dicomgen import PYDICOM_TEST_FILES, make_instance

BUNDLED = sorted(p.name for p in PYDICOM_TEST_FILES.glob("*.dcm"))
SURE = {
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "JPEG2000.dcm",
    "rtdose.dcm",
    "MR_small_RLE.dcm",
}


def write(tmp_path, ds, name="x.dcm", **kwargs):
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True, **kwargs)
    return path


def sample(**extra):
    return make_instance(
        study_instance_uid="1.2.3",
        series_instance_uid="1.2.3.4",
        series_number=1,
        instance_number=1,
        patient_name="SUBJ1",
        patient_id="SESS1",
        **extra,
    )


@pytest.mark.parametrize("name", BUNDLED)
def test_it_agrees_with_pydicom_or_cannot_tell(name):
    path = PYDICOM_TEST_FILES / name
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:
        pytest.skip("pydicom cannot read it either")
    if "PatientName" not in ds or "PatientID" not in ds or path.read_bytes()[128:132] != b"DICM":
        assert not holds_labels(path, "x", "y")
        return
    patient_name, patient_id = str(ds.PatientName), str(ds.PatientID)
    if not patient_name.isascii() or not patient_id.isascii() or patient_name != patient_name.strip():
        return
    found = holds_labels(path, patient_name, patient_id)
    # Never a wrong yes; "cannot tell" (big endian, deflated, a file that lies about its VR) is fine.
    if name in SURE:
        assert found
    assert not holds_labels(path, patient_name + "X", patient_id)
    assert not holds_labels(path, patient_name, patient_id + "X")
    if found:
        assert ds.file_meta.TransferSyntaxUID != ExplicitVRBigEndian


def test_sequences_of_undefined_length_before_the_patient(tmp_path):
    ds = sample()
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    item.ReferencedSOPInstanceUID = "1.2.3.4.5"
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator, inner.CodeMeaning = "A", "B", "C"
    item.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([item, item])
    for sequence in (ds.ReferencedImageSequence, item.PurposeOfReferenceCodeSequence):
        sequence.is_undefined_length = True
        for entry in sequence:
            entry.is_undefined_length_sequence_item = True
    explicit = write(tmp_path, ds)
    assert holds_labels(explicit, "SUBJ1", "SESS1")
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    implicit = write(tmp_path, ds, "implicit.dcm")
    assert holds_labels(implicit, "SUBJ1", "SESS1")
    assert not holds_labels(implicit, "SUBJ1", "SESS2")


def test_missing_truncated_or_padded(tmp_path):
    ds = sample()
    path = write(tmp_path, ds)
    assert holds_labels(path, "SUBJ1", "SESS1")
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(path.read_bytes()[:300])
    assert not holds_labels(cut, "SUBJ1", "SESS1")
    del ds.PatientID
    assert not holds_labels(write(tmp_path, ds, "noid.dcm"), "SUBJ1", "")
    ds.PatientID = "SESS"  # odd length: stored with a padding space
    assert holds_labels(write(tmp_path, ds, "pad.dcm"), "SUBJ1", "SESS")
    not_dicom = tmp_path / "plain.txt"
    not_dicom.write_text("hello")
    assert not holds_labels(not_dicom, "SUBJ1", "SESS1")
