"""Builders shared by the DicomEdit tests: pydicom's bundled files, small datasets, running a script."""

from collections.abc import Mapping
from pathlib import Path

import pydicom.data
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from anonymize.dicomedit import ApplyResult, parse_script

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
VARIABLES = {"project": "P1", "subject": "S1", "session": "E1"}


def bundled(name: str) -> Path:
    """A file bundled with pydicom, by path (pydicom's get_testdata_files may try to download)."""
    path = TEST_FILES / name
    assert path.exists(), name
    return path


def run(script: str, ds: Dataset, variables: Mapping[str, str] = VARIABLES) -> ApplyResult:
    """Parse a script body (a version line is added) and apply it to ``ds``."""
    return parse_script('version "6.3"\n' + script).apply(ds, variables)


def item(**keywords: object) -> Dataset:
    """A sequence item with the given attributes."""
    ds = Dataset()
    for keyword, value in keywords.items():
        setattr(ds, keyword, value)
    return ds


def seq(*items: Dataset) -> Sequence:
    """A sequence of the given items."""
    return Sequence(list(items))


def mr_header() -> Dataset:
    """A small MR header with a nested reference sequence and a Siemens private block."""

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PatientName = "Doe^John"
    ds.PatientID = "MRN123"
    ds.PatientBirthDate = "19800102"
    ds.Modality = "MR"
    ds.StudyDate = "20240131"
    ds.SeriesDescription = "t1_mprage"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.InstitutionName = "General Hospital"
    ds.ReferencedImageSequence = seq(
        item(ReferencedSOPInstanceUID="1.2.3.4.6", ReferencedSOPClassUID="1.2.840.10008.5.1.4.1.1.4"),
        item(ReferencedSOPInstanceUID="1.2.3.4.7", ReferencedSOPClassUID="1.2.840.10008.5.1.4.1.1.4"),
    )
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x0F, "LO", "secret")
    block.add_new(0x10, "LO", "other")
    return ds
