"""Issue 14 item 9: another site cannot make a signed-in browser change anything through the REST API.

A request signed in by the login form's session must pass Django's CSRF check (Origin, token); XNAT
clients keep working unchanged with basic auth, alias tokens and the JSESSIONID they got from the API
(`/data/services/auth`, `/data/JSESSION`, basic auth), none of which sends a CSRF token. xnatpy and
pyxnat themselves run in tests/e2e/test_xnat_clients.py."""

from __future__ import annotations

import pytest
import requests

from tests.security.conftest import BOUND, browser_sign_in
from xnatlite.models import Project

pytestmark = pytest.mark.e2e

EVIL = "http://evil.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def accessibility() -> str:
    return Project.objects.get(pk="A").accessibility


def test_another_sites_form_cannot_use_the_browsers_session(live, project_a, alice):
    server = live()
    browser = browser_sign_in(server.url, "alice")
    url = server.url + "data/projects/A/accessibility/public"
    # The attack of the issue: a form on another site posts with the session cookie only.
    forged = browser.post(url, headers={**FORM, "Origin": EVIL}, data="x=1", timeout=BOUND)
    assert forged.status_code == 403 and accessibility() == "private"
    assert forged.headers["Content-Type"].startswith("text/plain")
    # Without an Origin header (an older browser) the missing token refuses it too.
    assert browser.post(url, headers=FORM, data="x=1", timeout=BOUND).status_code == 403
    assert browser.put(url, timeout=BOUND).status_code == 403
    assert browser.post(server.url + "data/JSESSION", timeout=BOUND).status_code == 403
    assert accessibility() == "private"
    # Reading stays open to the browser, and a page of this site that sends its token may write.
    assert browser.get(server.url + "data/projects/A/accessibility", timeout=BOUND).text == "private"
    own = {"X-CSRFToken": browser.cookies["csrftoken"], "Origin": server.url.rstrip("/")}
    assert browser.put(url, headers=own, timeout=BOUND).status_code == 200
    assert accessibility() == "public"


def test_xnat_clients_ways_of_signing_in_need_no_csrf_token(live, project_a, alice):
    server = live()
    values = iter(["protected", "public", "private", "protected", "public", "private"])

    def change(**how) -> int:
        value = next(values)
        answer = requests.put(server.url + f"data/projects/A/accessibility/{value}", timeout=BOUND, **how)
        assert accessibility() == (value if answer.status_code == 200 else accessibility())
        return answer.status_code

    assert change(auth=("alice", "pw")) == 200  # basic auth on every request (pyxnat)
    token = requests.put(
        server.url + "data/services/auth", data={"username": "alice", "password": "pw"}, timeout=BOUND
    ).text
    assert change(cookies={"JSESSIONID": token}) == 200  # xnatpy: the token of /data/services/auth
    basic = requests.Session()
    assert basic.get(server.url + "data/JSESSION", auth=("alice", "pw"), timeout=BOUND).ok
    assert change(cookies={"JSESSIONID": basic.cookies["JSESSIONID"]}) == 200  # the cookie basic auth set
    renewed = requests.post(server.url + "data/JSESSION", cookies={"JSESSIONID": token}, timeout=BOUND).text
    assert (
        change(cookies={"JSESSIONID": renewed}) == 200
    )  # POST /data/JSESSION: a new one, still an API session
    alias = requests.get(
        server.url + "data/services/tokens/issue", auth=("alice", "pw"), timeout=BOUND
    ).json()
    assert change(auth=(alias["alias"], alias["secret"])) == 200  # an alias token
    with_token = requests.Session()
    assert with_token.get(server.url, auth=(alias["alias"], alias["secret"]), timeout=BOUND).ok
    assert change(cookies={"JSESSIONID": with_token.cookies["JSESSIONID"]}) == 200  # xnatpy with a token


def test_another_sites_page_cannot_sign_the_browser_in_or_use_remembered_credentials(live, project_a, alice):
    server = live()
    login = requests.post(
        server.url + "data/services/auth",
        data={"username": "alice", "password": "pw"},
        headers={"Origin": EVIL},
        timeout=BOUND,
    )
    assert login.status_code == 403 and "JSESSIONID" not in login.cookies
    remembered = requests.put(
        server.url + "data/projects/A/accessibility/public",
        auth=("alice", "pw"),
        headers={"Origin": EVIL},
        timeout=BOUND,
    )
    assert remembered.status_code == 403 and accessibility() == "private"


def test_basic_credentials_beside_a_browser_session_leave_it_a_browser_session(live, project_a, alice):
    server = live()
    browser = browser_sign_in(server.url, "alice")
    assert browser.get(server.url + "data/projects", auth=("alice", "pw"), timeout=BOUND).ok
    url = server.url + "data/projects/A/accessibility/public"
    assert browser.post(url, headers={**FORM, "Origin": EVIL}, data="x=1", timeout=BOUND).status_code == 403
    assert accessibility() == "private"
