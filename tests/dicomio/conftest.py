"""The acceptor is tested through a receiver running in the test process (tests/dicom_receiver/conftest.py)."""

from tests.dicom_receiver.conftest import receiver  # noqa: F401
