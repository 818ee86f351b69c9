"""Probes of a live server: `manage.py serve` on a free loopback port, sharing the test's database and
data root, driven with `requests` over real sockets as an attacker (or a careless user) would."""

from __future__ import annotations

import re

import pytest
import requests
from django.conf import settings

from tests.conftest import database_url
from tests.e2e.conftest import process_env, start_serve

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TIMEOUT = 30  # seconds for any one request: every probe stops by itself


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


def csrf_token(page: str) -> str:
    return CSRF_INPUT.search(page).group(1)


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
    form = browser.get(url + "login/", timeout=TIMEOUT)
    answer = browser.post(
        url + "login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf_token(form.text)},
        headers={"Referer": url + "login/"},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:300]
    return browser
