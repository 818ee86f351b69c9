"""`/data/config/anon/...`: the site and project anonymization scripts, read-only, in XNAT's shape."""

from __future__ import annotations

from django.test import Client

from tests.xnatapi.conftest import basic


def test_anonymization_scripts_are_readable_in_xnats_shape(alice, project_a, dave):
    client = Client(HTTP_AUTHORIZATION=basic("alice"))
    site = client.get("/data/config/anon/script?format=json").json()["ResultSet"]["Result"][0]
    assert site["status"] == "enabled" and "version" in site["contents"].lower()
    raw = client.get("/data/config/anon/script?contents=true")
    assert raw.content.decode() == site["contents"]
    project = client.get("/data/projects/A/config/anon/projects/A?format=json").json()["ResultSet"]["Result"][
        0
    ]
    assert project["project"] == "A" and project["contents"]
    stranger = Client(HTTP_AUTHORIZATION=basic("dave"))
    assert stranger.get("/data/projects/A/config/anon/projects/A").status_code == 404
