"""Issue 14 item 11: revoking an alias token ends the sessions it opened and the tokens minted with it
(and theirs); a token's sessions also end when it expires, and a minted token never outlives its parent."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from tests.security.conftest import BOUND, browser_sign_in
from xnatapi.models import AliasToken
from xnatlite.models import AuditEvent

pytestmark = pytest.mark.e2e


def issue(url: str, **how) -> dict:
    answer = requests.get(url + "data/services/tokens/issue", timeout=BOUND, **how)
    assert answer.status_code == 200, answer.text
    return answer.json()


def reads(url: str, **how) -> int:
    return requests.get(url + "data/projects/A?format=json", timeout=BOUND, **how).status_code


def test_revoking_a_token_ends_its_sessions_and_the_tokens_minted_with_it(live, project_a, alice):
    server = live()
    first = issue(server.url, auth=("alice", "pw"))
    # xnatpy's way with a token: GET / with basic auth, then only the JSESSIONID it got back.
    client = requests.Session()
    assert client.get(server.url, auth=(first["alias"], first["secret"]), timeout=BOUND).ok
    opened = client.cookies["JSESSIONID"]
    assert reads(server.url, cookies={"JSESSIONID": opened}) == 200
    # A token minted by that session, and a session opened with the minted token.
    minted = issue(server.url, cookies={"JSESSIONID": opened})
    second = requests.put(
        server.url + "data/services/auth",
        data={"username": minted["alias"], "password": minted["secret"]},
        timeout=BOUND,
    )
    assert second.status_code == 200
    grandchild = issue(server.url, cookies={"JSESSIONID": second.text})
    for session in (opened, second.text):
        assert reads(server.url, cookies={"JSESSIONID": session}) == 200
    assert reads(server.url, auth=(grandchild["alias"], grandchild["secret"])) == 200

    revoked = requests.get(
        server.url + f"data/services/tokens/invalidate/{first['alias']}",
        auth=("alice", "pw"),
        timeout=BOUND,
    )
    assert revoked.status_code == 200

    for session in (opened, second.text):
        assert reads(server.url, cookies={"JSESSIONID": session}) == 401
    for token in (first, minted, grandchild):
        assert reads(server.url, auth=(token["alias"], token["secret"])) == 401
        assert AliasToken.objects.get(alias=token["alias"]).revoked_at is not None
    assert reads(server.url, auth=("alice", "pw")) == 200  # her password is untouched
    assert AliasToken.objects.get(alias=minted["alias"]).parent.alias == first["alias"]
    audited = AuditEvent.objects.filter(action="api.token.revoked")
    assert sorted(audited.values_list("object_id", flat=True)) == sorted(
        t["alias"] for t in (first, minted, grandchild)
    )
    assert {e.details.get("via") for e in audited if e.object_id != first["alias"]} == {first["alias"]}


def test_a_tokens_sessions_end_when_it_expires_and_minted_tokens_never_outlive_it(live, project_a, alice):
    server = live()
    token = issue(server.url, auth=("alice", "pw"))
    session = requests.put(
        server.url + "data/services/auth",
        data={"username": token["alias"], "password": token["secret"]},
        timeout=BOUND,
    ).text
    minted = issue(server.url, cookies={"JSESSIONID": session})
    parent, child = (
        AliasToken.objects.get(alias=token["alias"]),
        AliasToken.objects.get(alias=minted["alias"]),
    )
    assert child.expires_at <= parent.expires_at
    assert reads(server.url, cookies={"JSESSIONID": session}) == 200
    AliasToken.objects.filter(pk=parent.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reads(server.url, cookies={"JSESSIONID": session}) == 401


def test_a_token_minted_with_a_token_beside_a_browser_session_is_still_its_child(live, project_a, alice):
    server = live()
    token = issue(server.url, auth=("alice", "pw"))
    browser = browser_sign_in(server.url, "alice")
    minted = browser.get(
        server.url + "data/services/tokens/issue", auth=(token["alias"], token["secret"]), timeout=BOUND
    ).json()
    assert AliasToken.objects.get(alias=minted["alias"]).parent.alias == token["alias"]
    assert requests.get(
        server.url + f"data/services/tokens/invalidate/{token['alias']}",
        auth=("alice", "pw"),
        timeout=BOUND,
    ).ok
    assert reads(server.url, auth=(minted["alias"], minted["secret"])) == 401
    assert browser.get(server.url + "data/projects/A?format=json", timeout=BOUND).ok  # her own session stays
