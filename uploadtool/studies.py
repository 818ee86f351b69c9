"""Finding the DICOM studies in a folder, and packing one for upload."""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # a DICOMDIR: an index, not an instance
SUMMARY_TAGS = [
    "StudyInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
    "SeriesInstanceUID",
    "PatientName",
    "PatientID",
    "StudyDate",
    "StudyDescription",
    "AccessionNumber",
    "Modality",
]


@dataclass
class Study:
    uid: str
    patient_name: str = ""
    patient_id: str = ""
    date: str = ""
    description: str = ""
    accession: str = ""
    modalities: set[str] = field(default_factory=set)
    series: set[str] = field(default_factory=set)
    files: list[Path] = field(default_factory=list)
    size: int = 0


@dataclass
class Found:
    studies: list[Study]
    skipped: list[Path]  # files that are not DICOM instances


def _header(path: Path):
    """The summary attributes of a DICOM instance, or None for anything else."""
    with warnings.catch_warnings():  # pydicom's complaints about files that are not DICOM
        warnings.simplefilter("ignore")
        return _read_header(path)


def _read_header(path: Path):
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=SUMMARY_TAGS)
    except InvalidDicomError:  # no preamble: a bare data set, or not DICOM at all
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=SUMMARY_TAGS, force=True)
        except Exception:
            return None
    except Exception:
        return None
    uids = (ds.get("StudyInstanceUID"), ds.get("SOPInstanceUID"), ds.get("SOPClassUID"))
    if not all(uids) or str(ds.get("SOPClassUID")) == MEDIA_STORAGE_DIRECTORY:
        return None
    return ds


def _files(folder: Path) -> Iterator[Path]:
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(top) / name
            if not name.startswith(".") and path.is_file() and not path.is_symlink():
                yield path


def find_studies(folder: Path) -> Found:
    """Every DICOM study under `folder` (read header by header, never a whole file), oldest first."""
    studies: dict[str, Study] = {}
    skipped = []
    for path in _files(folder):
        ds = _header(path)
        if ds is None:
            skipped.append(path)
            continue
        uid = str(ds.StudyInstanceUID)
        study = studies.get(uid)
        if study is None:
            study = studies[uid] = Study(
                uid=uid,
                patient_name=str(ds.get("PatientName", "") or ""),
                patient_id=str(ds.get("PatientID", "") or ""),
                date=str(ds.get("StudyDate", "") or ""),
                description=str(ds.get("StudyDescription", "") or ""),
                accession=str(ds.get("AccessionNumber", "") or ""),
            )
        if ds.get("Modality"):
            study.modalities.add(str(ds.Modality))
        if ds.get("SeriesInstanceUID"):
            study.series.add(str(ds.SeriesInstanceUID))
        study.files.append(path)
        study.size += path.stat().st_size
    return Found(sorted(studies.values(), key=lambda s: (s.date, s.uid)), skipped)


def pack(study: Study, folder: Path) -> Path:
    """The study's files in a temporary zip (stored, not compressed: DICOM gains little and the CPU is
    better spent elsewhere), written file by file; the caller deletes it."""
    handle, name = tempfile.mkstemp(prefix="xnatlite-upload-", suffix=".zip")
    os.close(handle)
    with zipfile.ZipFile(name, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for n, path in enumerate(study.files):
            archive.write(path, f"{n:06d}_{path.name}")
    return Path(name)
