"""dicomio/files.py: the stored file is byte for byte what pydicom would write, and written
atomically."""

from __future__ import annotations

import io
import os
import threading
import warnings
from pathlib import Path

import pydicom
import pytest

from anonymize import services as anonymize_services
from dicomio import files as dicomfiles
from dicomio.errors import InvalidDicom
from tests.dicomgen import make_study
from xnatlite import cache

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
    cache.forget_all()
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


def test_a_reused_empty_file_becomes_the_instance_or_a_new_file_does(tmp_path, monkeypatch):
    """`reuse_empty_files`: the instance is written into the empty file given and renamed into place;
    when that rename crosses file systems (a folder mounted apart) a new file is written instead, and
    the reused one is removed. Only the thread that registered the hook reuses files."""
    blanks = tmp_path / "blanks"
    blanks.mkdir()
    for name in ("b1", "b2"):
        (blanks / name).write_bytes(b"")
    kept = [blanks / "b1", blanks / "b2"]
    inode = kept[0].stat().st_ino
    ds = make_study(n_instances=1)[0]
    folder = tmp_path / "SCANS" / "1" / "DICOM"
    dicomfiles.reuse_empty_files(lambda: kept.pop(0) if kept else None)
    try:
        size, _ = dicomfiles.write_instance(ds, folder / "one.dcm")
        assert (folder / "one.dcm").stat().st_ino == inode and (folder / "one.dcm").stat().st_size == size
        assert pydicom.dcmread(folder / "one.dcm").SOPInstanceUID == ds.SOPInstanceUID

        replace = os.replace

        def across_file_systems(source, target):
            if Path(source).parent == blanks:
                raise OSError(18, "Invalid cross-device link")
            replace(source, target)

        monkeypatch.setattr(os, "replace", across_file_systems)
        dicomfiles.write_instance(ds, folder / "two.dcm")
        assert pydicom.dcmread(folder / "two.dcm").SOPInstanceUID == ds.SOPInstanceUID
        assert not (blanks / "b2").exists() and sorted(p.name for p in folder.iterdir()) == [
            "one.dcm",
            "two.dcm",
        ]

        (blanks / "b3").write_bytes(b"")
        kept.append(blanks / "b3")
        other = threading.Thread(target=dicomfiles.write_instance, args=(ds, folder / "three.dcm"))
        other.start()
        other.join()
        assert (blanks / "b3").exists() and (folder / "three.dcm").stat().st_ino != (
            blanks / "b3"
        ).stat().st_ino
    finally:
        dicomfiles.reuse_empty_files(None)
