"""Issue 14 item 8: guessing passwords stops after a few failures, on every way of signing in (the
login form, basic auth on the API, `/data/services/auth`, alias tokens). Once an address or an account
has failed `XNATLITE_SIGNIN_FAILURE_LIMIT` times (that failure already answers 429), both are refused,
the right password too, until the cool-off ends or an admin unlocks them; failures are logged, lockouts
and unlocks audited."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests.e2e.conftest import ROOT
from tests.security.conftest import BOUND, browser_sign_in, client_at, csrf_token
from xnatlite.models import AuditEvent

pytestmark = pytest.mark.e2e

LIMIT = 5


@pytest.fixture
def server(live, project_a, alice, bob, root):
    return live(XNATLITE_SIGNIN_FAILURE_LIMIT=str(LIMIT), XNATLITE_SIGNIN_LOCKOUT_MINUTES="30")


def form_sign_in(url: str, username: str, password: str, client: requests.Session | None = None):
    client = client if client is not None else requests.Session()
    form = client.get(url + "login/", timeout=BOUND)
    return client.post(
        url + "login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf_token(form.text)},
        headers={"Referer": url + "login/"},
        timeout=BOUND,
        allow_redirects=False,
    )


def basic(url: str, username: str, password: str, client=requests) -> requests.Response:
    return client.get(url + "data/projects", auth=(username, password), timeout=BOUND)


def services_auth(url: str, username: str, password: str) -> requests.Response:
    return requests.put(
        url + "data/services/auth", data={"username": username, "password": password}, timeout=BOUND
    )


def test_the_login_form_stops_guessing(server):
    for n in range(LIMIT - 1):
        assert form_sign_in(server.url, "alice", f"guess-{n}").status_code == 200  # the form again
    assert form_sign_in(server.url, "alice", "last-guess").status_code == 429
    refused = form_sign_in(server.url, "alice", "pw")
    assert refused.status_code == 429 and "Sign-in locked" in refused.text
    assert "JSESSIONID" not in refused.cookies
    # The address is locked for every account and every way in; so is the account.
    assert basic(server.url, "bob", "pw").status_code == 429
    assert services_auth(server.url, "alice", "pw").status_code == 429
    log = server.log.read_text()
    assert (
        log.count("sign-in failed for 'alice' from 127.0.0.1 (/login/)") == LIMIT + 1
    )  # the right one, refused
    locked = AuditEvent.objects.get(action="auth.signin.locked")
    assert (locked.object_id, locked.details["ip_address"], locked.actor_name) == (
        "alice",
        "127.0.0.1",
        "system:signin-throttle",
    )


def test_basic_auth_stops_guessing(server):
    for n in range(LIMIT - 1):
        assert basic(server.url, "alice", f"guess-{n}").status_code == 401
    assert basic(server.url, "alice", "last-guess").status_code == 429
    refused = basic(server.url, "alice", "pw")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == str(30 * 60)
    assert refused.headers["Content-Type"].startswith("text/plain")
    assert refused.text.startswith("Too many failed sign-ins")
    assert AuditEvent.objects.filter(action="auth.signin.locked").count() == 1


def test_services_auth_and_alias_token_guesses_stop_too(server):
    token = requests.get(
        server.url + "data/services/tokens/issue", auth=("alice", "pw"), timeout=BOUND
    ).json()
    for n in range(LIMIT - 1):
        assert services_auth(server.url, "alice", f"guess-{n}").status_code == 401
    assert basic(server.url, token["alias"], "not-its-secret").status_code == 429  # the last failure
    assert services_auth(server.url, "alice", "pw").status_code == 429
    assert basic(server.url, token["alias"], token["secret"]).status_code == 429
    validate = f"data/services/tokens/validate/{token['alias']}/{token['secret']}"
    assert requests.get(server.url + validate, timeout=BOUND).status_code == 429


def test_an_account_stays_locked_from_another_address_and_others_are_not(server):
    for n in range(LIMIT):
        assert basic(server.url, "alice", f"guess-{n}").status_code in (401, 429)
    elsewhere = client_at("127.0.0.2")
    assert basic(server.url, "alice", "pw", client=elsewhere).status_code == 429  # the account
    assert basic(server.url, "bob", "pw", client=client_at("127.0.0.3")).status_code == 200  # not the others


def test_an_admin_unlocks_with_a_command_or_in_django_admin(server, child_env):
    for n in range(LIMIT):
        basic(server.url, "alice", f"guess-{n}")
    assert basic(server.url, "alice", "pw").status_code == 429
    reset = subprocess.run(
        [sys.executable, "manage.py", "axes_reset_username", "alice"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reset.returncode == 0, reset.stderr
    assert basic(server.url, "alice", "pw").status_code == 200
    unlocked = AuditEvent.objects.get(action="auth.signin.unlocked")
    assert (unlocked.object_id, unlocked.actor_name) == ("alice", "admin:axes_reset")

    # Locked again; root (elsewhere) deletes the attempt in Django admin.
    for n in range(LIMIT):
        basic(server.url, "alice", f"again-{n}")
    assert basic(server.url, "alice", "pw").status_code == 429
    admin = browser_sign_in(server.url, "root", browser=client_at("127.0.0.2"))
    listing = admin.get(server.url + "admin/axes/accessattempt/", timeout=BOUND)
    assert listing.status_code == 200 and "alice" in listing.text
    from axes.models import AccessAttempt

    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    deleted = admin.post(
        server.url + "admin/axes/accessattempt/",
        data={
            "action": "delete_selected",
            "_selected_action": ids,
            "post": "yes",
            "csrfmiddlewaretoken": csrf_token(listing.text),
        },
        headers={"Referer": server.url + "admin/axes/accessattempt/"},
        timeout=BOUND,
    )
    assert deleted.status_code in (200, 302), deleted.text[:300]
    assert basic(server.url, "alice", "pw").status_code == 200
    assert list(
        AuditEvent.objects.filter(action="auth.signin.unlocked")
        .order_by("pk")
        .values_list("actor_name", flat=True)
    ) == ["admin:axes_reset", "root"]


def test_behind_a_proxy_each_client_counts_apart(live, project_a, alice, bob):
    server = live(XNATLITE_SIGNIN_FAILURE_LIMIT=str(LIMIT), XNATLITE_TRUSTED_PROXIES="1")

    def through_proxy(client: str, username: str, password: str, spoofed: str = "") -> int:
        forwarded = f"{spoofed}, {client}" if spoofed else client  # a proxy appends the address it saw
        answer = requests.get(
            server.url + "data/projects",
            auth=(username, password),
            headers={"X-Forwarded-For": forwarded},
            timeout=BOUND,
        )
        return answer.status_code

    for n in range(LIMIT - 1):  # what the client writes itself is ignored
        assert through_proxy("192.0.2.7", "nobody", f"guess-{n}", spoofed=f"198.51.100.{n}") == 401
    assert through_proxy("192.0.2.7", "nobody-else", "guess") == 429
    assert through_proxy("192.0.2.7", "alice", "pw") == 429
    assert through_proxy("192.0.2.8", "bob", "pw") == 200  # another client behind the same proxy
    assert "sign-in failed for 'nobody' from 192.0.2.7" in server.log.read_text()
