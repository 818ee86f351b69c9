"""Helpers for prearchive tests: ingest generated instances through the one ingest path."""

import io

import pytest

from prearchive.ingest import IngestContext, _recent_claims, ingest_file


def encode(ds) -> io.BytesIO:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return buffer


@pytest.fixture
def ingest():
    """ingest(datasets, **context) -> list of IngestResult, each instance sent as a byte stream."""

    def run(datasets, **context):
        context.setdefault("source", "upload")
        return [ingest_file(encode(ds), IngestContext(**context)) for ds in datasets]

    return run


@pytest.fixture(autouse=True)
def fresh_caches():
    from anonymize.services import forget_cached_site_script
    from dicom_receiver.models import forget_cached_rules

    forget_cached_site_script()
    forget_cached_rules()
    _recent_claims.clear()  # sessions of other tests' databases
    yield
    forget_cached_site_script()
    forget_cached_rules()
    _recent_claims.clear()
