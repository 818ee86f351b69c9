"""Fixtures for the REST API tests: clients signed in with basic auth, and an archived session with
real DICOM files on disk, made through archive/services/ (the way the API itself makes content)."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest
from django.test import Client

from archive.services.resources import create_resource, store_file
from archive.services.scans import create_scan
from archive.services.sessions import create_session
from tests.conftest import pydicom_test_file
from tests.factories import TESTS, make_subject

DICOM_FILES = ["MR_small.dcm", "CT_small.dcm"]


def basic(username: str, password: str = "pw") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def api():
    """api(user) -> a Django test client that sends basic auth for that user on every request."""

    def make(user=None, password: str = "pw") -> Client:
        if user is None:
            return Client()
        return Client(HTTP_AUTHORIZATION=basic(user.get_username(), password))

    return make


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def make_session_with_files(project):
    """{project} / subject S1 / session MR1 with scan 1 (type T1w; DICOM resource with two bundled
    files) and a session resource NOTES holding notes.txt."""
    subject = make_subject(project, "S1")
    session = create_session(subject, "MR1", by=TESTS, xsi_type="xnat:mrSessionData")
    scan = create_scan(session, "1", by=TESTS, xsi_type="xnat:mrScanData", type="T1w")
    dicom = create_resource(scan, "DICOM", by=TESTS, format="DICOM", content="RAW")
    for name in DICOM_FILES:
        with open(pydicom_test_file(name), "rb") as src:
            store_file(dicom, name, src, by=TESTS, format="DICOM")
    notes = create_resource(session, "NOTES", by=TESTS)
    store_file(notes, "notes.txt", io.BytesIO(b"hello\n"), by=TESTS)
    return {"subject": subject, "session": session, "scan": scan, "dicom": dicom, "notes": notes}


@pytest.fixture
def session_with_files(project_a):
    return make_session_with_files(project_a)
