"""The probe suite of issue 14: attacks against a live `manage.py serve` (real sockets, real processes,
sharing this test's database and data folder), each on loopback and bounded, so that none of what was
fixed can come back; driven with `requests` as an attacker (or a careless user) would.

`live`: a web-only serve started with extra settings; `start_live`: a serve with its DICOM receiver on
a port of its own; `browser_sign_in`: a `requests` session signed in through the login form, with the
CSRF token the UI's forms need.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from django.conf import settings

from tests.conftest import database_url
from tests.e2e.conftest import Server, process_env, start_serve, start_serve_receiving

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
BOUND = 60.0  # seconds: a safety net for one request, never an expectation of how long it takes


@pytest.fixture
def live(transactional_db, tmp_path):
    """live(**env) -> a running `serve` (web only) on this test's committed data; env adds variables.
    Stopped when the test ends."""
    servers = []

    def start(**env: str):
        variables = process_env(
            tmp_path,
            DATABASE_URL=database_url(),
            XNATLITE_DATA_ROOT=str(settings.DATA_ROOT),
            XNATLITE_TESTING="true",  # the test accounts' password hashes
            **env,
        )
        server = start_serve(tmp_path, "--web-only", "--no-migrate", "--threads", "4", env=variables)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@dataclass
class Live:
    server: Server
    dicom_port: int

    @property
    def url(self) -> str:
        return self.server.url

    def pid(self) -> int:
        return self.server.proc.pid


@pytest.fixture
def live_env(transactional_db, child_env) -> dict:
    """The environment of the live server; tests add their own settings before starting it."""
    return {**child_env, "XNATLITE_DICOM_HOST": "127.0.0.1", "XNATLITE_LOG_LEVEL": "INFO"}


@pytest.fixture
def start_live(tmp_path, live_env) -> Iterator:
    started: list[Server] = []

    def start(**extra: str) -> Live:
        server, port = start_serve_receiving(tmp_path, {**live_env, **extra})
        started.append(server)
        return Live(server, port)

    yield start
    for server in started:
        server.stop()


def csrf_token(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class FromAddress(requests.adapters.HTTPAdapter):
    """Connections from another loopback address (127.0.0.2, ...): another client, as the server sees it."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(address: str) -> requests.Session:
    client = requests.Session()
    client.mount("http://", FromAddress(address))
    return client


def browser_sign_in(
    url: str, username: str, password: str = "pw", browser: requests.Session | None = None
) -> requests.Session:
    """A browser's way in: the login form, its CSRF token and cookies; the session it gets back."""
    browser = browser if browser is not None else requests.Session()
    form = browser.get(url + "login/", timeout=BOUND)
    answer = browser.post(
        url + "login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf_token(form.text)},
        headers={"Referer": url + "login/"},
        timeout=BOUND,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:300]
    return browser


def post_form(
    web: requests.Session, url: str, data: dict, *, page: str | None = None, **kwargs
) -> requests.Response:
    """POST a form to `url` as the browser would from `page` (default: `url`), with its CSRF token."""
    page = page or url
    token = csrf_token(web.get(page, timeout=BOUND).text)
    return web.post(
        url, data={**data, "csrfmiddlewaretoken": token}, headers={"Referer": page}, timeout=BOUND, **kwargs
    )
