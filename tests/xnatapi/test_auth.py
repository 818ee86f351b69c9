"""Signing in XNAT's ways: basic auth, JSESSIONID, /data/services/auth, /data/JSESSION, alias tokens."""

from __future__ import annotations

import json

from django.test import Client

from tests.xnatapi.conftest import basic
from xnatapi.models import AliasToken
from xnatlite.models import AuditEvent


def test_it_answers_401_in_plain_text_without_credentials(db):
    response = Client().get("/data/projects")
    assert response.status_code == 401
    assert response.content == b"The request requires user authentication"
    assert response["Content-Type"].startswith("text/plain")
    assert response["WWW-Authenticate"] == 'Basic realm="XNAT"'


def test_it_refuses_a_wrong_password(alice):
    response = Client(HTTP_AUTHORIZATION=basic("alice", "nope")).get("/data/projects")
    assert response.status_code == 401
    assert "JSESSIONID" not in response.cookies


def test_basic_auth_starts_a_session_the_cookie_then_carries(alice):
    client = Client(HTTP_AUTHORIZATION=basic("alice"))
    first = client.get("/data/JSESSION")
    assert first.status_code == 200
    token = first.content.decode()
    assert client.cookies["JSESSIONID"].value == token
    cookie_only = Client()
    cookie_only.cookies["JSESSIONID"] = token
    assert cookie_only.get("/data/auth").content == b"User 'alice' is logged in"


def test_services_auth_returns_the_session_token_as_text_and_cookie(alice):
    client = Client()
    response = client.put(
        "/data/services/auth", "username=alice&password=pw", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert response.content.decode() == client.cookies["JSESSIONID"].value
    assert client.get("/data/auth").content == b"User 'alice' is logged in"
    assert client.get("/data/JSESSION").content.decode() == response.content.decode()


def test_services_auth_with_bad_credentials_is_refused_and_signs_nobody_in(alice):
    client = Client()
    response = client.put(
        "/data/services/auth", "username=alice&password=bad", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 401
    assert response.content == b"Login attempt failed. Please try again."
    assert client.get("/data/auth").status_code == 401


def test_delete_jsession_signs_out_with_200_and_empty_body(alice):
    client = Client()
    client.put(
        "/data/services/auth", "username=alice&password=pw", content_type="application/x-www-form-urlencoded"
    )
    response = client.delete("/data/JSESSION")
    assert (response.status_code, response.content) == (200, b"")
    assert client.get("/data/auth").status_code == 401


def test_post_jsession_gives_a_new_token(alice):
    client = Client(HTTP_AUTHORIZATION=basic("alice"))
    old = client.get("/data/JSESSION").content
    new = client.post("/data/JSESSION").content
    assert new and new != old
    assert client.cookies["JSESSIONID"].value == new.decode()


def test_root_accepts_basic_auth_and_sets_the_cookie_but_still_shows_the_login_page_to_others(alice):
    signed = Client(HTTP_AUTHORIZATION=basic("alice")).get("/")
    assert signed.status_code == 200 and "JSESSIONID" in signed.cookies
    anonymous = Client().get("/")
    assert anonymous.status_code == 200 and b'name="password"' in anonymous.content
    wrong = Client(HTTP_AUTHORIZATION=basic("alice", "bad")).get("/")
    assert wrong.status_code == 200 and "JSESSIONID" not in wrong.cookies


def test_alias_token_signs_in_until_revoked(alice, dave):
    client = Client(HTTP_AUTHORIZATION=basic("alice"))
    issued = json.loads(client.get("/data/services/tokens/issue").content)
    token = AliasToken.objects.get(alias=issued["alias"])
    assert token.user == alice and issued["secret"] not in token.secret_hash
    by_token = Client(HTTP_AUTHORIZATION=basic(issued["alias"], issued["secret"]))
    assert by_token.get("/data/auth").content == b"User 'alice' is logged in"
    wrong_secret = Client(HTTP_AUTHORIZATION=basic(issued["alias"], "guess"))
    assert wrong_secret.get("/data/auth").status_code == 401

    # Someone else cannot revoke it (and learns nothing), its owner can.
    stranger = Client(HTTP_AUTHORIZATION=basic("dave"))
    assert stranger.get(f"/data/services/tokens/invalidate/{issued['alias']}").status_code == 404
    assert client.get(f"/data/services/tokens/invalidate/{issued['alias']}").status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None
    fresh = Client(HTTP_AUTHORIZATION=basic(issued["alias"], issued["secret"]))
    assert fresh.get("/data/auth").status_code == 401
    assert set(AuditEvent.objects.filter(actor=alice).values_list("action", flat=True)) >= {
        "api.token.issued",
        "api.token.revoked",
    }


def test_api_paths_need_no_csrf_token(alice, settings):
    settings.PROJECT_CREATION = "everyone"  # alice may create a project herself
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=basic("alice"))
    response = client.put("/data/projects/NEWP?xsiType=xnat:projectData")
    assert response.status_code == 201
