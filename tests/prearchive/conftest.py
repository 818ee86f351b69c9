"""Helpers for prearchive tests: ingest generated instances through the one ingest path."""

import io

import pytest

from prearchive.ingest import IngestContext, ingest_file


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
