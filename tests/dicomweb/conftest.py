"""DICOMweb against a live `serve` (web only) sharing this test's database and data folder, driven with
the unmodified dicomweb-client; studies archived the real way (ingest, build, archive)."""

from __future__ import annotations

import pytest
import requests
from dicomweb_client.api import DICOMwebClient

from prearchive import handoff
from tests.conftest import database_url
from tests.dicomgen import make_study
from tests.e2e.conftest import process_env, start_serve
from tests.sessions import ingest_study, make_ready


@pytest.fixture
def start_server(transactional_db, tmp_path, data_root):
    """start_server(**env) -> the URL of a running serve on this test's committed data; env adds
    variables. Stopped when the test ends."""
    started = []

    def start(**extra: str) -> str:
        env = process_env(
            tmp_path,
            DATABASE_URL=database_url(),
            XNATLITE_DATA_ROOT=str(data_root),
            XNATLITE_TESTING="true",  # the test accounts' password hashes
            **extra,
        )
        served = start_serve(tmp_path, "--web-only", "--no-migrate", "--threads", "4", env=env)
        started.append(served)
        return served.url.rstrip("/")

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def server(start_server):
    """The URL of a running serve with the default settings."""
    return start_server()


@pytest.fixture
def client(server):
    """client(user, project=None) -> a DICOMwebClient signed in with basic auth as that user (password `pw`)."""

    def make(user, project: str | None = None) -> DICOMwebClient:
        session = requests.Session()
        session.auth = (user.username, "pw")
        root = f"{server}/dicomweb" + (f"/projects/{project}" if project else "")
        return DICOMwebClient(url=root, session=session)

    return make


@pytest.fixture
def archive_study(transactional_db):
    """archive_study(project_id, by, **study) -> (ImageSession, datasets): a generated study ingested,
    built and archived into the project."""

    def make(project_id: str, by, n_series: int = 2, n_instances: int = 2, **study):
        study.setdefault("study_description", project_id)  # routing: Study Description names the project
        study.setdefault("patient_name", "SUBJ^001")
        study.setdefault("patient_id", "MRN12345")
        datasets = make_study(n_series, n_instances, **study)
        session = make_ready(ingest_study(datasets))
        archived = handoff.archive_session(session, by=by).session
        return archived, datasets

    return make
