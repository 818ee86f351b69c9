"""What clients read while connecting and about the site: access levels per project."""

from __future__ import annotations

from django.test import Client

from tests.xnatapi.conftest import basic
from xnatlite import projects
from xnatlite.models import Project


def test_access_levels_name_each_visible_projects_role(cast, alice, bob, carol, dave):

    projects.update_project(Project.objects.get(pk="D"), by=dave, accessibility="public")
    levels = {
        who: {
            r["ID"]: r["role"]
            for r in Client(HTTP_AUTHORIZATION=basic(who)).get("/xapi/access/projects").json()
        }
        for who in ("alice", "bob", "carol", "dave")
    }
    assert levels == {
        "alice": {"A": "owner", "D": "public"},
        "bob": {"A": "member", "D": "public"},
        "carol": {"A": "collaborator", "D": "public"},
        "dave": {"D": "owner"},
    }
