"""Fixtures for the DicomEdit tests."""

import pytest
from pydicom.dataset import Dataset

from tests.anonymize.dicomedit.datasets import mr_header


@pytest.fixture
def ds() -> Dataset:
    """A small MR header with a nested reference sequence and a Siemens private block."""
    return mr_header()


@pytest.fixture
def workdir(tmp_path):
    """An empty folder of our own (tests/conftest.py puts a data root in tmp_path)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder
