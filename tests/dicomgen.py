"""Generated DICOM studies for tests and benchmarks, and a small C-STORE sender (pynetdicom SCU).

datasets = make_study(n_series=2, n_instances=3, modality="MR", patient_name="DOE^JOHN")
paths = write_study(datasets, tmp_path / "study")
statuses = send_datasets(port, datasets, called_ae="XNATLITE")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pydicom.data
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    generate_uid,
)

SOP_CLASSES = {"MR": MRImageStorage, "CT": CTImageStorage, "PT": PositronEmissionTomographyImageStorage}


def make_instance(
    *,
    study_instance_uid: str,
    series_instance_uid: str,
    series_number: int | str,
    instance_number: int,
    modality: str = "MR",
    rows: int = 16,
    cols: int = 16,
    patient_name: str = "SUBJ^001",  # a code: a name-shaped label needs confirming to archive
    patient_id: str = "P001",
    study_description: str = "",
    accession: str = "",
    patient_comments: str = "",
    study_comments: str = "",
    additional_history: str = "",
    series_description: str = "",
    study_date: str = "20240102",
    study_time: str = "101500",
    sop_instance_uid: str | None = None,
) -> Dataset:
    """One image instance with a complete file meta header and a deterministic pixel pattern."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SOP_CLASSES.get(modality, MRImageStorage)
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyDate, ds.StudyTime = study_date, study_time
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description or f"{modality} series {series_number}"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    if patient_comments:
        ds.PatientComments = patient_comments
    if additional_history:
        ds.AdditionalPatientHistory = additional_history
    ds.StudyInstanceUID = study_instance_uid
    ds.SeriesInstanceUID = series_instance_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    if study_comments:
        ds.StudyComments = study_comments
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    pixels = (np.arange(rows * cols, dtype=np.uint32) * (instance_number + 7)) % 4096
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    return ds


def make_study(
    n_series: int = 1,
    n_instances: int = 2,
    *,
    study_instance_uid: str | None = None,
    series_numbers: Sequence[int | str] | None = None,
    **fields,
) -> list[Dataset]:
    """A study of `n_series` series with `n_instances` instances each (series numbered 1, 2, ...).

    Other keyword arguments go to `make_instance`: modality, rows, cols, patient_name, patient_id,
    study_description, accession, patient_comments, study_comments, additional_history, ...
    """
    study_instance_uid = study_instance_uid or generate_uid()
    numbers = list(series_numbers) if series_numbers is not None else list(range(1, n_series + 1))
    datasets = []
    for series_number in numbers[:n_series]:
        series_instance_uid = generate_uid()
        for instance_number in range(1, n_instances + 1):
            datasets.append(
                make_instance(
                    study_instance_uid=study_instance_uid,
                    series_instance_uid=series_instance_uid,
                    series_number=series_number,
                    instance_number=instance_number,
                    **fields,
                )
            )
    return datasets


def write_study(datasets: Iterable[Dataset], folder: Path) -> list[Path]:
    """Write each dataset as a DICOM file `{n:05d}.dcm` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate(datasets):
        path = folder / f"{n:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _transfer_syntax(item) -> str:
    from pydicom.filereader import read_file_meta_info

    meta = item.file_meta if isinstance(item, Dataset) else read_file_meta_info(item)
    return str(meta.TransferSyntaxUID)


def _sop_class(item) -> str:
    from pydicom.filereader import read_file_meta_info

    if isinstance(item, Dataset):
        return str(item.SOPClassUID)
    return str(read_file_meta_info(item).MediaStorageSOPClassUID)


def send_datasets(
    port: int,
    items: Iterable[Dataset | Path],
    *,
    called_ae: str = "XNATLITE",
    calling_ae: str = "TESTSCU",
    host: str = "127.0.0.1",
) -> list[int]:
    """C-STORE every dataset (or file) over one association; the status of each, in order.

    Raises ConnectionError if the association is rejected or aborted.
    """
    from pynetdicom import AE

    items = list(items)
    ae = AE(ae_title=calling_ae)
    pairs = sorted({(_sop_class(i), _transfer_syntax(i)) for i in items})
    for sop_class, transfer_syntax in pairs:
        ae.add_requested_context(sop_class, transfer_syntax)
    assoc = ae.associate(host, port, ae_title=called_ae)
    if not assoc.is_established:
        raise ConnectionError(f"association to {called_ae}@{host}:{port} was not established")
    statuses = []
    try:
        for item in items:
            status = assoc.send_c_store(item)
            if not status:
                raise ConnectionError("association aborted while sending")
            statuses.append(int(status.Status))
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


def echo(port: int, *, called_ae: str = "XNATLITE", host: str = "127.0.0.1") -> int | None:
    """C-ECHO; the status, or None when no association could be made."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate(host, port, ae_title=called_ae)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
        return int(status.Status) if status else None
    finally:
        assoc.release()


PYDICOM_TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


def pydicom_test_file(name: str) -> Path:
    """A file bundled with pydicom (never downloaded: there is no internet in CI)."""
    path = PYDICOM_TEST_FILES / name
    assert path.exists(), f"{name} is not bundled with pydicom"
    return path


def write_deflated(path: Path, ds: Dataset, *, zeros: int = 0) -> Path:
    """`ds` as a Part 10 file in Deflated Explicit VR Little Endian (PS3.5 A.5), its data set followed
    inside the deflate stream by a Pixel Data (7FE0,0010) OB element of
    `zeros` zero bytes when `zeros` is set: a deflate bomb of `zeros` bytes in about zeros/1000,
    written piece by piece (never whole in memory)."""
    import struct
    import zlib

    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = ds.copy()
    ds.file_meta = FileMetaDataset(ds.file_meta)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    if zeros:
        del ds.PixelData  # the zeros take its place
    head = DicomBytesIO()
    head.is_little_endian, head.is_implicit_VR = True, False
    head.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(head, ds.file_meta, enforce_standard=True)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    with open(path, "wb") as out:
        out.write(head.getvalue())
        out.write(deflater.compress(body.getvalue()))
        if zeros:
            out.write(deflater.compress(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, zeros)))
            block = bytes(1 << 20)
            for start in range(0, zeros, len(block)):
                out.write(deflater.compress(block[: min(len(block), zeros - start)]))
        out.write(deflater.flush())
    return path


def write_with_transfer_syntax(path: Path, ds: Dataset, transfer_syntax: str) -> Path:
    """`ds` encoded in Explicit VR Little Endian in a Part 10 file whose meta names `transfer_syntax`
    (made up, say: pydicom itself refuses to write one)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    meta = FileMetaDataset(ds.file_meta)
    meta.TransferSyntaxUID = transfer_syntax
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    bare = ds.copy()
    del bare.file_meta
    write_dataset(out, bare)
    path.write_bytes(out.getvalue())
    return path
