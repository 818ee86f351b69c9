"""Issue 14 item 10: what a user may not see answers exactly as what does not exist, byte for byte, in
the API and the pages: projects, subjects, experiments, scans, resources, files, prearchive sessions.

dave is a stranger to alice's project A and owns D, which holds the same labels; each pair asks for
something hidden in A and for something missing where dave may look (his own D, or an unused ID)."""

from __future__ import annotations

import re

import pytest
import requests

from tests.factories import make_session_with_files
from tests.security.conftest import BOUND, browser_sign_in
from xnatlite import projects

pytestmark = pytest.mark.e2e

TOKEN = re.compile(rb'value="[A-Za-z0-9]{64}"')  # a form's CSRF token, masked anew on every page


@pytest.fixture
def world(project_a, project_d, alice, dave, ready):
    a, d = make_session_with_files(project_a), make_session_with_files(project_d)
    waiting = ready(1, 2, project_label="A")
    return {"a": a, "d": d, "prearchive": f"{waiting.timestamp}/{waiting.folder_name}"}


def api_pairs(world) -> list[tuple[str, str]]:
    a, d = world["a"], world["d"]
    a_subject, a_session = a["subject"].accession_id, a["session"].accession_id
    d_session = d["session"].accession_id
    return [
        ("/data/projects/A", "/data/projects/NOSUCH"),
        ("/data/projects/A/subjects/S1", "/data/projects/D/subjects/NOPE"),
        ("/data/projects/A/subjects/S1", "/data/projects/NOSUCH/subjects/S1"),
        (f"/data/subjects/{a_subject}", "/data/subjects/XNATLITE_S99999"),
        ("/data/projects/A/subjects/S1/experiments/MR1", "/data/projects/D/subjects/S1/experiments/NOPE"),
        ("/data/projects/A/experiments/MR1", "/data/projects/D/experiments/NOPE"),
        (f"/data/experiments/{a_session}", "/data/experiments/XNATLITE_E99999"),
        (
            "/data/projects/A/subjects/S1/experiments/MR1/scans/1",
            "/data/projects/D/subjects/S1/experiments/MR1/scans/99",
        ),
        (f"/data/experiments/{a_session}/resources/NOTES", f"/data/experiments/{d_session}/resources/NOPE"),
        (
            f"/data/experiments/{a_session}/resources/NOTES/files/notes.txt",
            f"/data/experiments/{d_session}/resources/NOTES/files/nope.txt",
        ),
        (
            f"/data/experiments/{a_session}/scans/1/resources/DICOM/files/MR_small.dcm",
            f"/data/experiments/{d_session}/scans/1/resources/DICOM/files/nope.dcm",
        ),
        (
            f"/data/experiments/{a_session}/scans/1/files/MR_small.dcm",
            f"/data/experiments/{d_session}/scans/1/files/nope.dcm",
        ),
        (
            f"/data/prearchive/projects/A/{world['prearchive']}",
            f"/data/prearchive/projects/D/{world['prearchive']}",
        ),
        (
            f"/data/prearchive/projects/A/{world['prearchive']}/scans",
            f"/data/prearchive/projects/D/{world['prearchive']}/scans",
        ),
    ]


def answer(response: requests.Response) -> tuple[int, str, bytes]:
    return response.status_code, response.headers.get("Content-Type", ""), response.content


def test_the_api_answers_hidden_and_missing_alike(live, world, alice, dave):
    server = live()
    for hidden, missing in api_pairs(world):
        seen = requests.get(server.url + hidden.lstrip("/"), auth=("dave", "pw"), timeout=BOUND)
        absent = requests.get(server.url + missing.lstrip("/"), auth=("dave", "pw"), timeout=BOUND)
        assert seen.status_code == 404, hidden
        assert answer(seen) == answer(absent), (hidden, missing)
        assert requests.get(server.url + hidden.lstrip("/"), auth=("alice", "pw"), timeout=BOUND).ok, hidden


def test_a_protected_projects_data_answers_as_missing_data(live, world, alice, dave):
    projects.update_project(world["a"]["session"].project, by=alice, accessibility="protected")
    server = live()
    assert requests.get(server.url + "data/projects/A", auth=("dave", "pw"), timeout=BOUND).ok  # it shows
    for hidden, missing in api_pairs(world)[1:]:
        seen = requests.get(server.url + hidden.lstrip("/"), auth=("dave", "pw"), timeout=BOUND)
        absent = requests.get(server.url + missing.lstrip("/"), auth=("dave", "pw"), timeout=BOUND)
        assert answer(seen) == answer(absent) and seen.status_code == 404, (hidden, missing)


def test_the_pages_answer_hidden_and_missing_alike(live, world, alice, dave):
    server = live()
    a_file = world["a"]["notes"].files.get().pk
    pairs = [
        ("projects/A/", "projects/NOSUCH/"),
        ("projects/A/subjects/S1/", "projects/D/subjects/NOPE/"),
        ("projects/A/sessions/MR1/", "projects/D/sessions/NOPE/"),
        ("projects/A/sessions/MR1/scans/1/", "projects/D/sessions/MR1/scans/99/"),
        (f"projects/A/sessions/MR1/files/{a_file}/", "projects/D/sessions/MR1/files/999999/"),
        ("projects/A/users/", "projects/NOSUCH/users/"),
        (f"prearchive/A/{world['prearchive']}/", f"prearchive/D/{world['prearchive']}/"),
    ]
    browser = browser_sign_in(server.url, "dave")
    for hidden, missing in pairs:
        seen = browser.get(server.url + hidden, timeout=BOUND)
        absent = browser.get(server.url + missing, timeout=BOUND)
        assert seen.status_code == 404, hidden
        assert (seen.status_code, TOKEN.sub(b"", seen.content)) == (
            absent.status_code,
            TOKEN.sub(b"", absent.content),
        )
