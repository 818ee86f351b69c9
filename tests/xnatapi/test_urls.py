"""The URL rules every endpoint shares: `/REST/` is `/data/`, a trailing slash is optional, unknown paths
answer a plain-text 404."""

from __future__ import annotations

from django.test import Client

from tests.xnatapi.conftest import basic


def test_unknown_api_paths_answer_plain_not_found(alice):
    response = Client(HTTP_AUTHORIZATION=basic("alice")).get("/data/nothing/here")
    assert (response.status_code, response.content) == (404, b"Not Found")
    assert response["Content-Type"].startswith("text/plain")


def test_trailing_slash_and_rest_prefix_are_the_same_endpoint(alice):
    client = Client(HTTP_AUTHORIZATION=basic("alice"))
    assert client.get("/data/auth/").status_code == 200
    assert client.get("/REST/auth").status_code == 200
