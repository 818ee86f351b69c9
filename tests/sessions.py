"""Sessions made the real way for tests: generated DICOM through the one ingest path (`ingest_study`),
built to READY (`make_ready`), and the check of an archived session against its files on disk."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pydicom

from archive import catalogs
from archive.models import File, ImageSession
from prearchive.builder import BuildReport, build_session
from prearchive.ingest import IngestContext, ingest_file
from prearchive.models import PrearchiveSession, Status, change_status
from xnatlite import layout


def encode(ds) -> io.BytesIO:
    """A dataset as the bytes of a Part 10 file, as an upload sends it."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return buffer


def ingest_study(datasets, **context) -> PrearchiveSession:
    """Ingest every dataset through the one ingest path; the (last) prearchive session."""
    context.setdefault("source", "upload")
    session = None
    for ds in datasets:
        session = ingest_file(encode(ds), IngestContext(**context)).session or session
    return session


def make_ready(session: PrearchiveSession) -> PrearchiveSession:
    """Build a RECEIVING session now, as the idle builder would after the timeout."""
    session.refresh_from_db()
    assert change_status(session, Status.BUILDING)
    build_session(session, BuildReport())
    session.refresh_from_db()
    assert session.status == Status.READY, session.status_reason
    return session


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def check_archived(session: ImageSession) -> dict:
    """Assert the session's rows, files and catalogs agree exactly; returns {scan ID: [file names]}."""
    folder = layout.archive_session_dir(session.project_id, session.label)
    assert folder.is_dir()
    rows = {f.path: f for f in File.objects.filter(resource__scan__session=session, resource__label="DICOM")}
    on_disk = {
        layout.relative_path(p)
        for p in folder.glob("SCANS/*/DICOM/*")
        if p.is_file() and not catalogs.is_catalog(p.name)
    }
    assert set(rows) == on_disk, "rows and files differ"
    by_scan: dict[str, list[str]] = {}
    for scan in session.scans.all():
        dicom = folder / "SCANS" / scan.scan_id / "DICOM"
        uid, entries = catalogs.read_catalog(dicom / catalogs.dicom_catalog_name(scan.scan_id))
        assert uid == scan.series_instance_uid
        files = {f.name: f for f in rows.values() if f.resource.scan_id == scan.pk}
        assert {e.name for e in entries} == set(files)
        for entry in entries:
            file = files[entry.name]
            assert (dicom / entry.name).is_file()
            assert entry.digest == file.md5 == md5(dicom / entry.name)
            assert entry.uid == file.sop_instance_uid
            assert file.size == (dicom / entry.name).stat().st_size
            ds = pydicom.dcmread(dicom / entry.name, stop_before_pixels=True)
            assert ds.SOPInstanceUID == entry.uid
        by_scan[scan.scan_id] = sorted(files)
    assert not list(folder.parent.glob(".build-*")), "a build folder was left behind"
    return by_scan
