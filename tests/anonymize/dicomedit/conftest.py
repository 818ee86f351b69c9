"""Fixtures for the DicomEdit tests."""

import pytest
from pydicom.dataset import Dataset

from tests.anonymize.dicomedit.datasets import mr_header


@pytest.fixture
def ds() -> Dataset:
    """A small MR header with a nested reference sequence and a Siemens private block."""
    return mr_header()
