"""Issue 14 item 13: `kill -9` during a resource upload left its `.part` file inside the archive folder,
with no row, forever. Uploads are written under `cache/uploads/` now, and what a killed process left
there is swept when the server starts again."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import requests
from django.conf import settings

from archive.models import File
from tests.factories import make_session_with_files
from tests.security.conftest import BOUND, browser_sign_in, csrf_token, post_form
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
MB = 1024 * 1024
SIZE = 256 * MB  # the server takes a moment to write, hash and sync it: time to kill it half-way
ATTEMPTS = 3


def parts() -> list:
    return [p for p in settings.DATA_ROOT.rglob("*.part") if p.is_file()]


def test_a_server_killed_mid_upload_leaves_nothing_in_the_archive(start_live, project_a, alice):
    make_session_with_files(project_a)
    archive = settings.DATA_ROOT / "archive"
    before = {p for p in archive.rglob("*") if p.is_file()}
    caught = None
    for attempt in range(ATTEMPTS):
        live = start_live()
        url = live.url + f"data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/big{attempt}.bin"
        done = threading.Event()

        def upload(url=url, done=done) -> None:
            try:
                requests.put(url, data=b"\0" * SIZE, auth=("alice", "pw"), timeout=BOUND)
            except requests.RequestException:
                pass  # the server dies under it
            finally:
                done.set()

        threading.Thread(target=upload, daemon=True).start()
        caught = wait_for(lambda done=done: parts() or done.is_set(), what="the upload's part file")
        os.kill(live.pid(), signal.SIGKILL)  # as soon as the server writes the part
        live.server.proc.wait(BOUND)
        done.wait(BOUND)
        if caught is not True:
            break  # killed half-way; else the upload was quicker than the look: again
    assert caught is not True, f"the upload finished before it could be interrupted, {ATTEMPTS} times"

    inside = {p for p in archive.rglob("*") if p.is_file()} - before
    assert not inside, f"left inside the archive: {sorted(inside)}"
    assert not File.objects.filter(name__startswith="big").exists()
    leftovers = list((settings.DATA_ROOT / "cache" / "uploads").iterdir())
    assert leftovers, "the killed upload left its folder in the cache"

    start_live()  # the next start sweeps what no live process owns
    wait_for(lambda: not parts(), what="the sweep of the killed upload's part")
    assert not [p for p in leftovers if p.exists()]


def upload_files() -> list:
    root = settings.DATA_ROOT / "cache" / "uploads"
    return [p for p in root.rglob("*.upload") if p.is_file()] if root.is_dir() else []


def test_a_form_upload_streams_into_the_cache_and_leaves_nothing_when_done(live, project_a, alice):
    """A browser upload's files are written under cache/uploads/ (not the system's /tmp) and their
    folder goes when the request ends; the data (here not DICOM) is reported, nothing kept."""
    server = live()
    web = browser_sign_in(server.url, "alice")
    answer = post_form(
        web,
        server.url + "upload/",
        {"project": "A"},
        files={"files": ("notes.bin", b"\1" * (3 * MB))},  # above the 2 MB kept in memory
    )
    assert answer.status_code == 200, answer.text[:300]
    assert "notes.bin" in answer.text  # reported as skipped: not DICOM
    root = settings.DATA_ROOT / "cache" / "uploads"
    assert root.is_dir(), "the upload was not written under cache/uploads/"
    assert not list(root.iterdir()), "the finished upload left files in the cache"


def test_a_server_killed_mid_form_upload_leaves_nothing_behind(start_live, project_a, alice):
    """kill -9 while Django writes a form upload's file: the file stays in its upload folder under
    cache/uploads/ (no row, nothing in the archive or the prearchive) and the next start removes it."""
    caught = None
    for attempt in range(ATTEMPTS):
        live = start_live()
        web = browser_sign_in(live.url, "alice")
        token = csrf_token(web.get(live.url + "upload/", timeout=BOUND).text)
        done = threading.Event()

        def upload(web=web, token=token, url=live.url, done=done, name=f"big{attempt}.bin") -> None:
            try:
                web.post(
                    url + "upload/",
                    data={"project": "A", "csrfmiddlewaretoken": token},
                    files={"files": (name, b"\0" * SIZE)},
                    headers={"Referer": url + "upload/"},
                    timeout=BOUND,
                )
            except requests.RequestException:
                pass  # the server dies under it
            finally:
                done.set()

        threading.Thread(target=upload, daemon=True).start()
        caught = wait_for(lambda done=done: upload_files() or done.is_set(), what="the form upload's file")
        os.kill(live.pid(), signal.SIGKILL)
        live.server.proc.wait(BOUND)
        done.wait(BOUND)
        if caught is not True:
            break
    assert caught is not True, f"the upload finished before it could be interrupted, {ATTEMPTS} times"
    assert upload_files(), "the killed upload left its file in the cache"
    assert not (settings.DATA_ROOT / "prearchive" / "A").exists() or not any(
        (settings.DATA_ROOT / "prearchive" / "A").rglob("*.dcm")
    )

    start_live()
    wait_for(lambda: not upload_files(), what="the sweep of the killed form upload's file")
