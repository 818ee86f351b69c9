"""Issue 14 item 16: the browser's protections. Every page has a Content-Security-Policy allowing only
this site's scripts and styles (no inline ones); a session ends after XNATLITE_SIGNIN_IDLE_MINUTES unused
(XNAT's 15 by default); behind TLS, cookies are Secure and HSTS is sent when configured, while the
embedded default on http://127.0.0.1 keeps working with plain cookies."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.contrib.sessions.models import Session
from django.utils import timezone

from tests.security.conftest import BOUND, browser_sign_in

pytestmark = pytest.mark.e2e


def set_cookies(response: requests.Response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    headers = response.raw.headers.getlist("Set-Cookie")
    return {header.split("=", 1)[0]: header for header in headers}


def test_the_embedded_default_sends_a_policy_and_plain_cookies(live, project_a, alice):
    server = live()
    page = requests.get(server.url + "login/", timeout=BOUND)
    policy = page.headers["Content-Security-Policy"]
    assert (
        "default-src 'self'" in policy
        and "frame-ancestors 'none'" in policy
        and "object-src 'none'" in policy
    )
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "Strict-Transport-Security" not in page.headers
    assert "secure" not in set_cookies(page)["csrftoken"].lower()
    browser = browser_sign_in(server.url, "alice")  # over plain HTTP, as `make run` serves
    assert browser.get(server.url + "projects/A/", timeout=BOUND).status_code == 200
    answer = requests.get(server.url + "data/projects", auth=("alice", "pw"), timeout=BOUND)
    session = set_cookies(answer)["JSESSIONID"]
    assert "Max-Age=900" in session and "secure" not in session.lower()  # XNAT's 15 minutes


def test_behind_a_tls_proxy_cookies_are_secure_and_hsts_is_sent(live, project_a, alice):
    server = live(
        XNATLITE_SECURE_COOKIES="true", XNATLITE_HSTS_SECONDS="31536000", XNATLITE_BEHIND_TLS_PROXY="true"
    )
    proxied = {"X-Forwarded-Proto": "https"}
    page = requests.get(server.url + "login/", headers=proxied, timeout=BOUND)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "; secure" in set_cookies(page)["csrftoken"].lower()
    answer = requests.get(server.url + "data/projects", auth=("alice", "pw"), headers=proxied, timeout=BOUND)
    assert answer.status_code == 200 and "; secure" in set_cookies(answer)["JSESSIONID"].lower()
    # The sign-in form over the proxy's HTTPS: Django's CSRF check compares the https Referer.
    form = requests.get(server.url + "login/", headers=proxied, timeout=BOUND)
    token = form.cookies["csrftoken"]
    signed_in = requests.post(
        server.url + "login/",
        data={"username": "alice", "password": "pw", "csrfmiddlewaretoken": token},
        cookies={"csrftoken": token},
        headers={**proxied, "Referer": server.url.replace("http://", "https://") + "login/"},
        timeout=BOUND,
        allow_redirects=False,
    )
    assert signed_in.status_code == 302 and "; secure" in set_cookies(signed_in)["JSESSIONID"].lower()


def test_a_session_ends_when_unused_for_the_idle_time(live, project_a, alice):
    server = live(XNATLITE_SIGNIN_IDLE_MINUTES="2")
    first = requests.get(server.url + "data/projects", auth=("alice", "pw"), timeout=BOUND)
    key = first.cookies["JSESSIONID"]
    assert "Max-Age=120" in set_cookies(first)["JSESSIONID"]
    expiry = Session.objects.get(session_key=key).expire_date
    assert expiry <= timezone.now() + timedelta(minutes=2)
    # Each request starts the idle time again...
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(seconds=30))
    assert requests.get(server.url + "data/projects", cookies={"JSESSIONID": key}, timeout=BOUND).ok
    assert Session.objects.get(session_key=key).expire_date > timezone.now() + timedelta(seconds=90)
    # ...and once it has run out, the session is over.
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert (
        requests.get(server.url + "data/projects", cookies={"JSESSIONID": key}, timeout=BOUND).status_code
        == 401
    )
