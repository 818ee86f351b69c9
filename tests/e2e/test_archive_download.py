"""A session bigger than the serving process may allocate downloads whole: the zip is streamed with
flat memory (archive/downloads.py), checked against a real `serve` process whose data limit the test
sets with prlimit(2) once it has started."""

from __future__ import annotations

import hashlib
import resource
import shutil
import subprocess
import sys
import zipfile

import pytest
import requests

from anonymize import services as anonymize_services
from archive.models import File
from prearchive import handoff
from tests.conftest import database_url
from tests.dicomgen import make_study
from tests.factories import TESTS
from tests.sessions import ingest_study, make_ready

pytestmark = pytest.mark.e2e
MB = 1024 * 1024


def status(pid: int) -> dict[str, int]:
    """VmData, VmHWM, ... of a process, in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def test_a_session_larger_than_the_servers_memory_limit(
    transactional_db, serve_factory, project_a, alice, carol
):
    anonymize_services.save_project_script(project_a, 'version "6.3"\n', enabled=False, by=alice)
    study = make_study(2, 20, rows=2048, cols=2048, study_description="A", patient_name="S1", patient_id="E1")
    session = make_ready(ingest_study(study))
    outcome = handoff.archive_session(session, by=TESTS)
    archived = outcome.session
    files = {
        f.name: f for f in File.objects.filter(resource__scan__session=archived, resource__label="DICOM")
    }
    total = sum(f.size for f in files.values())
    assert total > 300 * MB

    from django.conf import settings

    server = serve_factory(
        "--web-only",
        "--no-migrate",
        "--threads",
        "2",
        DATABASE_URL=database_url(),
        XNATLITE_DATA_ROOT=str(settings.DATA_ROOT),
        XNATLITE_TESTING="true",  # the test accounts' password hashes
        MALLOC_ARENA_MAX="2",
    )
    url = server.url + "data/projects/A/subjects/S1/experiments/E1/scans/ALL/files?format=zip"
    assert requests.get(server.url + "data/projects?format=json", auth=("carol", "pw"), timeout=30).ok
    limit = status(server.proc.pid)["VmData"] + 96 * MB
    assert limit < total
    resource.prlimit(server.proc.pid, resource.RLIMIT_DATA, (limit, limit))
    # The limit bites: a process under it cannot hold the session in memory.
    refused = subprocess.run(
        [sys.executable, "-c", f"bytearray({total})"],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (limit, limit)),
        capture_output=True,
    )
    assert refused.returncode != 0 and b"MemoryError" in refused.stderr

    target = settings.DATA_ROOT.parent / "download.zip"
    with requests.get(url, auth=("carol", "pw"), stream=True, timeout=120) as response:  # a collaborator
        assert response.status_code == 200, response.text[:300]
        with open(target, "wb") as out:
            for chunk in response.iter_content(1 * MB):
                out.write(chunk)
    assert server.proc.poll() is None, server.log.read_text()[-2000:]
    after = status(server.proc.pid)
    assert after["VmData"] <= limit
    with zipfile.ZipFile(target) as archive:
        members = [m for m in archive.infolist() if "/resources/DICOM/" in m.filename]
        assert len(members) == 40
        assert len(archive.infolist()) == 44  # and the two previews of each scan
        assert sum(m.file_size for m in members) == total
        for member in (members[0], members[-1]):
            stored = files[member.filename.rsplit("/", 1)[-1]]
            assert hashlib.md5(archive.read(member), usedforsecurity=False).hexdigest() == stored.md5
    assert target.stat().st_size > total
    target.unlink()  # pytest keeps the folders of the last runs: do not leave 600 MB behind
    shutil.rmtree(settings.DATA_ROOT / "archive")
