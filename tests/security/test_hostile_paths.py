"""Issue 14, the probe suite: paths and archives built to escape the data folder or exhaust it, sent
to a live server by a signed-in member (what passed the first probe and must keep passing). Each is
refused with a clear 4xx, nothing is written outside the folders the archive owns, and nothing that was
stored before is lost."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import requests
from django.conf import settings

from archive.models import File
from tests.dicomgen import make_study, write_study
from tests.factories import make_session_with_files
from tests.security.conftest import BOUND

pytestmark = pytest.mark.e2e
MB = 1024 * 1024
NOTES = "data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/"


def everything() -> set[Path]:
    return {p for p in settings.DATA_ROOT.parent.rglob("*") if p.is_file()}


@pytest.fixture
def member_at(live, project_a):
    make_session_with_files(project_a)
    server = live()
    web = requests.Session()
    web.auth = ("bob", "pw")  # a member of A
    return server.url, web


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2F..%2Fescaped.txt",
        "%2E%2E/%2E%2E/escaped.txt",
        "..%5C..%5Cescaped.txt",
    ],
)
def test_a_file_name_that_climbs_out_is_refused(member_at, name):
    url, web = member_at
    before = everything()
    answer = web.put(url + NOTES + name, data=b"x", timeout=BOUND)
    assert 400 <= answer.status_code < 500, answer.text[:200]
    assert not [p for p in everything() - before if "escaped" in p.name], "a file landed"
    read = web.get(url + NOTES + name, timeout=BOUND)
    assert read.status_code in (400, 404) and b"root:" not in read.content
    assert File.objects.filter(name="notes.txt").exists()  # what was there stays


def zipped(members: dict[str, bytes]) -> bytes:
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return body.getvalue()


def test_a_zip_slip_and_a_zip_bomb_are_refused_by_name(member_at, tmp_path):
    url, web = member_at
    [good] = write_study(make_study(n_instances=1, study_description="A"), tmp_path / "good")
    imports = url + "data/services/import?PROJECT_ID=A&import-handler=DICOM-zip"
    before = everything()

    slip = zipped({"ok.dcm": good.read_bytes(), "../../../../slipped.dcm": good.read_bytes()})
    answer = web.post(imports, data=slip, timeout=BOUND)
    assert answer.status_code == 400 and "slipped.dcm" in answer.text, answer.text[:300]

    bomb = zipped({"zeros.dcm": b"\0" * (300 * MB)})  # about 300 kB deflated
    assert len(bomb) < MB
    answer = web.post(imports, data=bomb, timeout=BOUND)
    assert answer.status_code == 400 and "zip bomb" in answer.text, answer.text[:300]

    resource = url + NOTES + "upload.zip?extract=true"
    answer = web.put(resource, data=slip, timeout=BOUND)
    assert 400 <= answer.status_code < 500 and "slipped.dcm" in answer.text, answer.text[:300]

    added = everything() - before
    assert not [p for p in added if "slipped" in p.name], "a member landed outside"
    assert sum(p.stat().st_size for p in added if p.exists()) < 10 * MB  # the bomb was never unpacked
    assert File.objects.filter(name="notes.txt").exists()
