"""prearchive/dicomfiles.py: the stored file is byte for byte what pydicom would write, and written
atomically."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import pydicom
import pytest

from anonymize import services as anonymize_services
from prearchive import dicomfiles
from tests.dicomgen import make_study
from xnatlite.errors import InvalidDicom

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def _prepared(path, stage: str, site):
    ds = dicomfiles.read_instance(path)
    if stage in ("read", "anonymized"):
        for _ in ds:  # every element converted from its raw form, as routing and scripts do
            pass
    if stage == "anonymized":
        site[0].apply(ds, {"project": "P", "subject": "S", "session": "E"}, record=site[1])
    dicomfiles.prepare_meta(ds, "SCANNER1")
    return ds


def test_encode_instance_writes_what_pydicom_writes(db):
    """Every bundled file pydicom can write, as received, after all its elements were read, and after
    the default site script: the same bytes, so the faster encoder changes nothing on disk."""
    anonymize_services.forget_cached_site_script()
    site = anonymize_services.site_script_for_ingest()
    compared, different = 0, []
    paths = sorted(p for p in TEST_FILES.rglob("*") if p.is_file() and p.stat().st_size < 2_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            for stage in ("as received", "read", "anonymized"):
                try:
                    expected = io.BytesIO()
                    pydicom.dcmwrite(expected, _prepared(path, stage, site), enforce_file_format=True)
                except Exception:  # pydicom cannot read or write it either: not ours to compare
                    continue
                compared += 1
                if dicomfiles.encode_instance(_prepared(path, stage, site)) != expected.getvalue():
                    different.append((path.name, stage))
    assert compared > 300
    assert different == []


def test_a_written_instance_is_complete_or_absent(tmp_path, monkeypatch):
    ds = make_study(n_instances=1)[0]
    target = tmp_path / "SCANS" / "1" / "DICOM" / "one.dcm"
    size, md5 = dicomfiles.write_instance(ds, target)
    assert (size, oct(target.stat().st_mode & 0o777)) == (target.stat().st_size, "0o644")
    assert pydicom.dcmread(target).SOPInstanceUID == ds.SOPInstanceUID
    assert len(md5) == 32

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError):
        dicomfiles.write_instance(ds, tmp_path / "SCANS" / "1" / "DICOM" / "two.dcm")
    assert sorted(p.name for p in target.parent.iterdir()) == ["one.dcm"]  # no temporary file left


def test_a_meta_without_its_uids_is_refused():
    buffer = io.BytesIO()
    make_study(n_instances=1)[0].save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    ds = dicomfiles.read_instance(buffer)
    del ds.file_meta.MediaStorageSOPInstanceUID
    with pytest.raises(InvalidDicom, match="lacks its Media Storage SOP Instance UID"):
        dicomfiles.encode_instance(ds)
