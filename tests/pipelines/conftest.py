"""An archived MR session whose scan holds a generated series with real geometry, made through the
archive's services, and the built-in dcm2niix wrapper."""

import io

import pytest

from archive.services.resources import create_resource, store_file
from archive.services.scans import create_scan
from archive.services.sessions import create_session
from pipelines.models import Wrapper
from tests.dicomgen import make_study
from tests.factories import TESTS, make_subject
from tests.sessions import encode

ROWS, COLS, SLICES = 16, 12, 5


def mr_series(n_slices=SLICES):
    datasets = make_study(1, n_slices, modality="MR", rows=ROWS, cols=COLS, series_description="T1w")
    for n, ds in enumerate(datasets):
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, float(n) * 2]
        ds.PixelSpacing = [1, 1]
        ds.SliceThickness = 2
    return datasets


@pytest.fixture
def mr_session(project_a):
    subject = make_subject(project_a, "S1")
    session = create_session(subject, "MR1", by=TESTS, xsi_type="xnat:mrSessionData")
    scan = create_scan(session, "1", by=TESTS, xsi_type="xnat:mrScanData", type="T1w")
    dicom = create_resource(scan, "DICOM", by=TESTS, format="DICOM", content="RAW")
    for n, ds in enumerate(mr_series()):
        store_file(dicom, f"{n:03d}.dcm", io.BytesIO(encode(ds).read()), by=TESTS, format="DICOM")
    return session


@pytest.fixture
def dcm2niix():
    return Wrapper.objects.get(command__name="dcm2niix", name="dcm2niix-scan")
