"""Fixtures for the UI tests: an archived session with real DICOM files in the archive layout."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import ImageSessionFactory, make_subject
from tests.ui.builders import add_dicom_scan


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
