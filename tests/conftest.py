"""The shared cast: alice owns project A, bob is a member, carol a collaborator, dave a stranger with
his own project D, and root a site admin. Every test gets its own data folder and empty caches.
Data made the real way: `ingest` (through the one ingest path), `ready` (a READY prearchive
session), `session_a` (an archived session with real DICOM files)."""

from pathlib import Path

import pytest
from django.test import Client

from prearchive.ingest import IngestContext, ingest_file
from tests.builders import add_dicom_scan
from tests.dicomgen import make_study
from tests.factories import ImageSessionFactory, UserFactory, make_project, make_subject
from tests.sessions import encode, ingest_study, make_ready
from tests.waiting import TIMEOUT, wait_for
from xnatlite import cache, projects


@pytest.fixture(autouse=True)
def fresh_caches():
    """Every test starts and ends with empty process caches (xnatlite/cache.py): nothing one test's
    database held answers in the next."""
    cache.forget_all()
    yield
    cache.forget_all()


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path) -> Path:
    """Each test writes under its own data root."""
    settings.DATA_ROOT = tmp_path / "data"
    settings.DATA_ROOT.mkdir()
    return settings.DATA_ROOT


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", first_name="Alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", first_name="Bob")


@pytest.fixture
def carol(db):
    return UserFactory(username="carol", first_name="Carol")


@pytest.fixture
def dave(db):
    return UserFactory(username="dave", first_name="Dave")


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def project_a(alice, bob, carol):
    project = make_project("A", alice)
    projects.set_project_role(project, bob, "member", by=alice)
    projects.set_project_role(project, carol, "collaborator", by=alice)
    return project


@pytest.fixture
def project_d(dave):
    return make_project("D", dave)


@pytest.fixture
def cast(project_a, project_d, alice, bob, carol, dave, root):
    """Everyone at once, for tests that walk the roles."""
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "root": root}


@pytest.fixture(autouse=True)
def eager_tasks(request):
    """Tasks run in-process unless the test asks for a real worker (`celery_worker`)."""
    from xnatlite.celery import app

    eager = "celery_worker" not in request.fixturenames or not app.conf.broker_url
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = previous


def database_url() -> str:
    """A URL for the database this test run uses, for child processes (workers, receivers, servers)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def child_env(data_root, settings) -> dict:
    """Environment for a child xnatlite process that shares this test's database, data and queue."""
    import os

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        SECRET_KEY="test-child-secret",
        XNATLITE_TESTING="true",  # the test accounts' password hashes (MD5, for speed) must verify there
        XNATLITE_DATA_ROOT=str(data_root),
        XNATLITE_CELERY_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        PYTHONUNBUFFERED="1",
    )
    return env


def celery_worker_command(queue: str) -> list[str]:
    """A real Celery worker on `queue` only, two processes, without the chatter between workers."""
    import sys

    return [
        sys.executable,
        *("-m", "celery", "-A", "xnatlite", "worker", "-Q", queue, "--concurrency=2", "--loglevel=INFO"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]


@pytest.fixture
def celery_worker(transactional_db, child_env, tmp_path):
    """A real Celery worker process on this run's own queue, when a broker is configured.

    With no broker (the embedded default) tasks run eagerly in-process, which is how that mode runs
    in production too, and this yields None. Tests using it need committed data (transactional_db).
    """
    import os
    import signal
    import subprocess
    import uuid

    from xnatlite.celery import app

    if not app.conf.broker_url:
        yield None
        return
    queue = f"xnatlite-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    child_env["XNATLITE_CELERY_QUEUE"] = queue
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            celery_worker_command(queue),
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: "ready." in log.read_text(), what="the Celery worker to start", process=proc, log=log
        )
    except AssertionError:
        proc.kill()
        proc.wait(TIMEOUT)
        raise
    proc.log = log
    yield proc
    app.conf.task_default_queue = previous_queue
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(TIMEOUT)


# --- data made the real way --------------------------------------------------------------------
@pytest.fixture
def ingest():
    """ingest(datasets, **context) -> list of IngestResult, each instance sent as a byte stream."""

    def run(datasets, **context):
        context.setdefault("source", "upload")
        return [ingest_file(encode(ds), IngestContext(**context)) for ds in datasets]

    return run


@pytest.fixture
def ready(db):
    """ready(n_series=2, n_instances=3, project="A", **study) -> a READY prearchive session of a new study."""

    def make(n_series=2, n_instances=3, *, project_label="A", datasets=None, context=None, **study):
        study.setdefault("study_description", project_label)
        study.setdefault("patient_name", "SUBJ^001")  # a code, as archiving asks (archiving/identity.py)
        study.setdefault("patient_id", "MRN12345")
        study.setdefault("accession", "ACC777")
        datasets = datasets if datasets is not None else make_study(n_series, n_instances, **study)
        return make_ready(ingest_study(datasets, **(context or {})))

    return make


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
