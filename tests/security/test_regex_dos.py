"""Issue 14 item 3: a project owner's script regex froze the web server and the DICOM acceptor of the
same process (`"aaa…!" ~ "(a+)+b"` in a dry run: seconds per extra character with Python's engine,
which holds the GIL). Script regexes now run with RE2, in linear time."""

from __future__ import annotations

import threading

import pytest
import requests

from tests.dicomgen import echo, make_study
from tests.security.conftest import BOUND, browser_sign_in, csrf_token
from tests.sessions import ingest_study

pytestmark = pytest.mark.e2e

HOSTILE = 'version "6.3"\n"' + "a" * 64 + '!" ~ "(a+)+b" ? (0010,0010) := "hit" : (0010,0010) := "miss"\n'


def test_a_hostile_dry_run_neither_hangs_nor_stops_the_server_and_receiver(start_live, project_a, alice):
    session = ingest_study(make_study(1, 1, study_description="A"), project="A", user=alice)
    live = start_live()
    web = browser_sign_in(live.url, "alice")
    page_url = live.url + "projects/A/anonymization/"
    token = csrf_token(web.get(page_url, timeout=BOUND).text)
    outcome: dict = {}

    def dry_run() -> None:
        try:
            outcome["response"] = web.post(
                page_url,
                data={
                    "csrfmiddlewaretoken": token,
                    "text": HOSTILE,
                    "enabled": "on",
                    "dry_run": "1",
                    "session": f"p:{session.pk}",
                    "scan": "",
                },
                headers={"Referer": page_url},
                timeout=BOUND,
            )
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=dry_run)
    thread.start()
    # While it runs, and after, the same process keeps answering the web and the DICOM receiver
    # (each look bounded: a frozen process fails it).
    while True:
        assert requests.get(live.url + "data/version", auth=("alice", "pw"), timeout=BOUND).ok
        assert echo(live.dicom_port) == 0
        if not thread.is_alive():
            break
        thread.join(0.1)
    assert "error" not in outcome, outcome.get("error")
    response = outcome["response"]
    assert response.status_code == 200
    changes = response.text.split("</textarea>", 1)[1]  # the dry run's table, after the script box
    assert "miss" in changes and "hit" not in changes
    assert live.server.proc.poll() is None


def test_a_pattern_re2_cannot_run_is_refused_on_save_naming_the_line(start_live, project_a, alice):
    live = start_live()
    web = browser_sign_in(live.url, "alice")
    page_url = live.url + "projects/A/anonymization/"
    token = csrf_token(web.get(page_url, timeout=BOUND).text)
    response = web.post(
        page_url,
        data={
            "csrfmiddlewaretoken": token,
            "text": 'version "6.3"\n(0008,1030) ~ "(a)\\\\1" ? - (0010,0010)\n',  # a backreference
            "enabled": "on",
        },
        headers={"Referer": page_url},
        timeout=BOUND,
    )
    assert response.status_code == 200  # the form again, with the error
    assert "line 2, column 15" in response.text and "RE2 has no backreferences" in response.text
