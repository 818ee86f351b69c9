"""Prearchive sessions made the real way (generated DICOM through `ingest_file`, built to READY), and
checks of an archived session against its files on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom
import pytest

from archive import catalogs
from archive.models import File, ImageSession
from prearchive.builder import BuildReport, build_session
from prearchive.ingest import IngestContext, ingest_file
from prearchive.models import PrearchiveSession, Status, change_status
from tests.dicomgen import make_study
from tests.prearchive.conftest import encode
from xnatlite import layout


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


@pytest.fixture
def ready(db):
    """ready(n_series=2, n_instances=3, project="A", **study) -> a READY prearchive session of a new study."""

    def make(n_series=2, n_instances=3, *, project_label="A", datasets=None, context=None, **study):
        study.setdefault("study_description", project_label)
        study.setdefault("patient_name", "DOE^JOHN")
        study.setdefault("patient_id", "MRN12345")
        study.setdefault("accession", "ACC777")
        datasets = datasets if datasets is not None else make_study(n_series, n_instances, **study)
        return make_ready(ingest_study(datasets, **(context or {})))

    return make


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
