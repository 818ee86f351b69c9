"""Fixtures for the UI tests: an archived session with real DICOM files in the archive layout.

Until every test can archive through the prearchive, `archived_session` lays files out exactly where
archive/layout.py says they live and registers the rows, as the archive service does.
"""

from __future__ import annotations

import hashlib
import shutil

import pydicom
import pytest
from django.test import Client

from archive import layout
from archive.models import File, ImageSession, Resource, Scan
from tests.conftest import pydicom_test_file
from tests.factories import ImageSessionFactory, make_subject


def add_dicom_scan(session: ImageSession, scan_id: str, source_name: str, copies: int = 1) -> Scan:
    """A scan whose DICOM resource holds `copies` copies of a pydicom test file, rows and files."""
    source = pydicom_test_file(source_name)
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    scan = Scan.objects.create(
        session=session,
        scan_id=scan_id,
        type=str(ds.get("SeriesDescription", "")) or "T1",
        series_description=str(ds.get("SeriesDescription", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        modality=str(ds.get("Modality", "")),
        frames=copies,
        sort_key=int(scan_id) if scan_id.isdigit() else 0,
    )
    resource = Resource.objects.create(scan=scan, label="DICOM", format="DICOM", content="RAW")
    folder = layout.scan_resource_dir(session.project_id, session.label, scan_id, "DICOM")
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(copies):
        name = f"{scan_id}-{n + 1}.dcm"
        target = folder / name
        shutil.copyfile(source, target)
        File.objects.create(
            resource=resource,
            name=name,
            path=layout.relative_path(target),
            size=target.stat().st_size,
            md5=hashlib.md5(target.read_bytes()).hexdigest(),
            format="DICOM",
            content="RAW",
            sop_class_uid=str(ds.SOPClassUID),
            sop_instance_uid=f"{ds.SOPInstanceUID}.{n}",
        )
    return scan


@pytest.fixture
def subject_a(project_a):
    return make_subject(project_a, "SUBJ1")


@pytest.fixture
def session_a(project_a, subject_a):
    """Session SESS1 of subject SUBJ1 in project A with two MR/CT scans of real DICOM files."""
    session = ImageSessionFactory(project=project_a, subject=subject_a, label="SESS1")
    add_dicom_scan(session, "1", "MR_small.dcm", copies=2)
    add_dicom_scan(session, "2", "CT_small.dcm")
    return session


@pytest.fixture
def as_user():
    """A test client signed in as the given user: `as_user(alice).get(...)`."""

    def sign_in(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return sign_in
