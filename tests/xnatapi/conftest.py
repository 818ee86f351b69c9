"""Fixtures and helpers for the REST API tests: clients signed in with basic auth, an archived session
with real DICOM files on disk (tests/factories.py), zips of generated DICOM for imports, and readers of
the answers."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from prearchive.models import PrearchiveSession
from tests.dicomgen import make_study
from tests.factories import make_session_with_files


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


@pytest.fixture
def session_with_files(project_a):
    return make_session_with_files(project_a)


# --- reading answers ------------------------------------------------------------------------------
def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["ResultSet"]["Result"]


def zip_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response.streaming and not response.has_header("Content-Length")
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


# --- imports --------------------------------------------------------------------------------------
def dicom_bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_zip(members: list[tuple[str, bytes]], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def study_members(n: int = 3, **kwargs) -> tuple[list, list[tuple[str, bytes]]]:
    datasets = make_study(n_series=1, n_instances=n, **kwargs)
    return datasets, [(f"study/{i:03d}.dcm", dicom_bytes(ds)) for i, ds in enumerate(datasets)]


def post_import(client, body: bytes, query: str = "project=A&subject=S9&session=E9", **extra):
    return client.post(f"/data/services/import?{query}", body, content_type="application/zip", **extra)


def imported(client, subject="S9", session="E9", n=2, project="A") -> tuple[str, PrearchiveSession]:
    """(the prearchive URI, the row) of a generated study imported into the project's prearchive."""
    datasets, members = study_members(n)
    uri = post_import(
        client, make_zip(members), query=f"project={project}&subject={subject}&session={session}"
    )
    assert uri.status_code == 200, uri.content
    return uri.content.decode().strip(), PrearchiveSession.objects.get(label=session)


def files_outside(data_root: Path) -> list[Path]:
    """Every file under the data root except prearchive/archive content and the sessions' lock files
    (cache/locks/, empty; uploads must leave nothing)."""
    return [
        p
        for p in data_root.rglob("*")
        if p.is_file()
        and p.relative_to(data_root).parts[0] not in ("prearchive", "archive")
        and p.relative_to(data_root).parts[:2] != ("cache", "locks")
    ]
