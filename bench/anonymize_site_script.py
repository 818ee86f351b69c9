"""Benchmark: the default site script against bare pydicom read + write, on a generated MR and CT study.

Run with ``.venv/bin/python bench/anonymize_site_script.py [--mr 500] [--ct 300]``. It prints instances per
second for (a) read + write and (b) read + default site script + write (apply_to_file), and their ratio.
The goal is a ratio of at most 1.5 (README "Anonymization" has the latest figures).
"""

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anonymize.defaults import default_site_script_text  # noqa: E402
from anonymize.dicomedit import RecordInfo, apply_to_file, parse_script  # noqa: E402

VARIABLES = {"project": "BENCH", "subject": "S001", "session": "S001_MR1"}
RECORD = RecordInfo("site", "xnatlite default site script", deidentifying=True)


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def header(modality: str, sop_class: str, rows: int, study_uid: str, series_uid: str) -> Dataset:
    """A realistic header: about 80 attributes, a few sequences (one nested) and two private blocks."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.InstanceCreationDate, ds.InstanceCreationTime = "20240131", "101500.000000"
    ds.SOPClassUID = sop_class
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240131"
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "101500.000000"
    ds.AccessionNumber = "ACC0012345"
    ds.Modality = modality
    ds.Manufacturer = "SIEMENS"
    ds.InstitutionName = "General Hospital"
    ds.InstitutionAddress = "1 Hospital Road, Springfield"
    ds.ReferringPhysicianName = "Smith^Anna"
    ds.StationName = "MRC12345"
    ds.StudyDescription = "BRAIN^ROUTINE"
    ds.SeriesDescription = "t1_mprage_sag"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.PerformingPhysicianName = "Jones^Bob"
    ds.OperatorsName = "Tech^Tina"
    ds.ManufacturerModelName = "Prisma"
    ds.ProcedureCodeSequence = Sequence([code_item("MRBRAIN", "L", "MR Brain")])
    ds.ReferencedStudySequence = Sequence([Dataset()])
    ds.ReferencedStudySequence[0].ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedImageSequence = Sequence()
    for _ in range(3):
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = generate_uid()
        ds.ReferencedImageSequence.append(ref)
    ds.PatientName = "Doe^John"
    ds.PatientID = "MRN0012345"
    ds.IssuerOfPatientID = "HOSPITAL"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.PatientAge = "054Y"
    ds.PatientSize = "1.80"
    ds.PatientWeight = "80"
    ds.PatientAddress = "2 Main Street"
    ds.BodyPartExamined = "HEAD"
    ds.ScanningSequence = "GR\\IR"
    ds.SequenceVariant = "SK\\SP\\MP"
    ds.MRAcquisitionType = "3D"
    ds.SliceThickness = "1"
    ds.RepetitionTime = "2300"
    ds.EchoTime = "2.98"
    ds.InversionTime = "900"
    ds.MagneticFieldStrength = "3"
    ds.DeviceSerialNumber = "166001"
    ds.SoftwareVersions = "syngo MR XA30"
    ds.ProtocolName = "t1_mprage_sag"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = "2"
    ds.AcquisitionNumber = "1"
    ds.ImagePositionPatient = ["-95.5", "-130.2", "110.4"]
    ds.ImageOrientationPatient = ["0", "1", "0", "0", "0", "-1"]
    ds.FrameOfReferenceUID = generate_uid()
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = "-95.5"
    ds.RequestAttributesSequence = Sequence([Dataset()])
    request = ds.RequestAttributesSequence[0]
    request.RequestedProcedureID = "RP0012345"
    request.ScheduledProcedureStepID = "SPS0012345"
    request.ScheduledProtocolCodeSequence = Sequence([code_item("P1", "L", "Brain protocol")])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = rows
    ds.PixelSpacing = ["1", "1"]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = "600", "1200"
    ds.PerformedProcedureStepStartDate = "20240131"
    ds.PerformedProcedureStepID = "PPS0012345"
    ds.PerformedProcedureStepDescription = "BRAIN^ROUTINE"
    mr_header = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    mr_header.add_new(0x08, "CS", "IMAGE NUM 4")
    mr_header.add_new(0x0B, "DS", "7")
    mr_header.add_new(0x0F, "SH", "Fast")
    csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    csa.add_new(0x08, "CS", "IMAGE NUM 4")
    csa.add_new(0x10, "OB", bytes(4000))
    csa.add_new(0x20, "OB", bytes(8000))
    return ds


def generate(folder: Path, modality: str, count: int, rows: int) -> list[Path]:
    """Write ``count`` instances of one series; the pixel bytes are random but shared."""
    folder.mkdir(parents=True)
    sop_class = MRImageStorage if modality == "MR" else CTImageStorage
    template = header(modality, sop_class, rows, generate_uid(), generate_uid())
    rng = np.random.default_rng(0)
    template.PixelData = rng.integers(0, 4096, size=(rows, rows), dtype=np.uint16).tobytes()
    paths = []
    for number in range(1, count + 1):
        sop_uid = generate_uid()
        template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = sop_uid
        template.InstanceNumber = number
        path = folder / f"{modality}{number:04d}.dcm"
        template.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def bare(src: Path, dst: Path) -> None:
    pydicom.dcmread(src).save_as(dst, enforce_file_format=False)


def seconds(paths: list[Path], out: Path, step: Callable[[Path, Path], object]) -> float:
    """Time ``step`` over every file."""
    out.mkdir(exist_ok=True)
    start = time.perf_counter()
    for path in paths:
        step(path, out / path.name)
    return time.perf_counter() - start


def compare(paths: list[Path], root: Path, scripted: Callable[[Path, Path], object]) -> tuple[float, float]:
    """Instances per second, bare and scripted: the best of three passes, each interleaving the two in
    chunks of 25 files, so that other load on the machine hits both alike."""
    seconds(paths[:25], root / "warmup", scripted)  # imports, caches, page cache
    chunks = [paths[i : i + 25] for i in range(0, len(paths), 25)]
    best_bare = best_script = float("inf")
    for attempt in range(3):
        # New folders each pass: both sides create every file (replacing one is cheaper than creating it).
        bare_out, script_out = root / f"bare{attempt}", root / f"script{attempt}"
        bare_total = script_total = 0.0
        for index, chunk in enumerate(chunks):
            if index % 2:
                script_total += seconds(chunk, script_out, scripted)
                bare_total += seconds(chunk, bare_out, bare)
            else:
                bare_total += seconds(chunk, bare_out, bare)
                script_total += seconds(chunk, script_out, scripted)
        best_bare, best_script = min(best_bare, bare_total), min(best_script, script_total)
        shutil.rmtree(bare_out)
        shutil.rmtree(script_out)
    return len(paths) / best_bare, len(paths) / best_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mr", type=int, default=500, help="MR instances (256x256)")
    parser.add_argument("--ct", type=int, default=300, help="CT instances (512x512)")
    args = parser.parse_args()
    site = parse_script(default_site_script_text())

    def scripted(src: Path, dst: Path) -> None:
        apply_to_file(src, dst, site, VARIABLES, RECORD)

    with tempfile.TemporaryDirectory(prefix="xnatlite-bench-") as tmp:
        root = Path(tmp)
        studies = {
            "MR": generate(root / "mr", "MR", args.mr, 256),
            "CT": generate(root / "ct", "CT", args.ct, 512),
        }
        print(f"{'study':6} {'n':>5} {'read+write/s':>13} {'read+script+write/s':>20} {'ratio':>6}")
        for name, paths in studies.items():
            bare_rate, script_rate = compare(paths, root, scripted)
            print(
                f"{name:6} {len(paths):>5} {bare_rate:>13.0f} {script_rate:>20.0f} {bare_rate / script_rate:>6.2f}"
            )


if __name__ == "__main__":
    main()
