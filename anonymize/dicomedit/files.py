"""Apply a script to a DICOM file on disk, atomically: the destination is replaced only by a complete file."""

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pydicom
from pydicom.dataset import FileDataset
from pydicom.errors import InvalidDicomError

from .elements import UNDEFINED_LENGTH
from .errors import InvalidDicomFile
from .evaluator import ApplyResult, RecordInfo, Script


def read_dicom(path: str | os.PathLike[str]) -> FileDataset:
    """Read a DICOM Part 10 file; raise InvalidDicomFile for anything else, including a truncated file."""
    try:
        ds = pydicom.dcmread(path, force=False)
    except OSError:
        raise
    except (InvalidDicomError, Exception) as exc:  # pydicom signals garbage with many exception types
        raise InvalidDicomFile(f"{path} is not a readable DICOM file: {exc}") from exc
    # pydicom stops quietly at the end of the file; a last element shorter than its declared length
    # means the file was cut off (a partial transfer), so it must not be archived as if complete.
    last = ds.get_item(list(ds.keys())[-1]) if len(ds) else None
    if last is None:
        raise InvalidDicomFile(f"{path} holds no data elements")
    value = getattr(last, "value", None)
    length = getattr(last, "length", UNDEFINED_LENGTH)
    if isinstance(value, bytes) and length != UNDEFINED_LENGTH and len(value) < length:
        raise InvalidDicomFile(
            f"{path} is truncated: {last.tag} declares {length} bytes, {len(value)} present"
        )
    return ds


def apply_to_file(
    src_path: str | os.PathLike[str],
    dst_path: str | os.PathLike[str],
    script: Script,
    variables: Mapping[str, str],
    record: RecordInfo | None = None,
) -> ApplyResult:
    """Read ``src_path``, apply ``script`` and write ``dst_path`` (may equal src) via a temp file and rename.

    The transfer syntax and file meta are kept, except MediaStorageSOPInstanceUID, which follows a changed
    SOPInstanceUID, and the transfer syntax after alterPixels had to decompress. When the script rejects
    the object nothing is written. On any error ``dst_path`` is untouched and no temp file remains.
    """
    ds = read_dicom(src_path)
    result = script.apply(ds, variables, record=record)
    if result.rejected:
        return result
    meta = ds.file_meta
    if "SOPInstanceUID" in ds and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    dst = Path(dst_path)
    fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            ds.save_as(out, enforce_file_format=False)
        shutil.copymode(src_path, tmp_name)
        os.replace(tmp_name, dst)
    except BaseException:
        os.unlink(tmp_name)
        raise
    return result
