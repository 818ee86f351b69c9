"""xnatapi/urls.py: one pattern and one view per endpoint, and the URL rules they share (`/REST/` is
`/data/`, `/data/archive/X` is `/data/X`, a trailing slash is optional, unknown paths answer a
plain-text 404)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import resolve

from tests.xnatapi.conftest import basic
from xnatapi import urls
from xnatapi.views import auth, experiments, prearchive, projects, resources, scans, services, site, subjects


def test_every_pattern_has_a_view_of_its_own_and_only_the_last_catches_all():
    patterns = urls.urlpatterns
    views = [pattern.callback for pattern in patterns]
    assert len(set(views)) == len(views), "a view serves two patterns"
    assert len({pattern.name for pattern in patterns}) == len(patterns)
    *endpoints, last = patterns
    assert last.callback is site.not_found and last.pattern.regex.pattern.endswith("(?:/.*)?)$")
    for pattern in endpoints:
        regex = pattern.pattern.regex.pattern
        # No group takes slashes (a path to walk), except a file's path in its resource, after `files/`.
        groups = re.findall(r"\(\?P<(\w+)>([^)]*)\)", regex)
        for name, body in groups:
            assert body == "[^/]+" or (name == "path" and "/files/(?P<path>" in regex), (pattern.name, name)
        assert ".*" not in regex, pattern.name


@pytest.mark.parametrize(
    ("path", "view"),
    [
        ("/data/projects", projects.ProjectList),
        ("/REST/projects/P/", projects.ProjectDetail),
        ("/data/archive/projects/P/subjects", subjects.SubjectList),
        ("/data/subjects", subjects.SubjectList),
        ("/data/subjects/XNAT_S00001", subjects.SubjectDetail),
        ("/data/projects/P/subjects/S", subjects.SubjectDetail),
        ("/data/experiments", experiments.ExperimentList),
        ("/data/projects/P/experiments", experiments.ExperimentList),
        ("/data/subjects/XNAT_S00001/experiments", experiments.ExperimentList),
        ("/data/projects/P/subjects/S/experiments/E", experiments.ExperimentDetail),
        ("/data/experiments/XNAT_E00001", experiments.ExperimentDetail),
        ("/data/experiments/XNAT_E00001/scans", scans.ScanList),
        ("/data/projects/P/experiments/E/scans/1", scans.ScanDetail),
        ("/data/archive/projects/P/subjects/S/experiments/E/scans/1,2/files", scans.ScanFiles),
        ("/data/experiments/E/scans/ALL/files/a/b.dcm", scans.ScanFile),
        ("/data/projects/P/resources", resources.ResourceList),
        ("/data/subjects/S/resources/NOTES", resources.ResourceDetail),
        ("/data/experiments/E/scans/1/resources", resources.ResourceList),
        ("/data/experiments/E/scans/1/resources/7/files", resources.ResourceFiles),
        ("/data/experiments/E/resources/NOTES/files/notes/hello.txt/", resources.ResourceFile),
        ("/data/experiments/E/files", resources.OwnerFiles),
        ("/data/projects/P/files/a.txt", resources.OwnerFile),
        ("/data/prearchive/projects/P/20240102_101010123/E", prearchive.SessionDetail),
        (
            "/data/prearchive/projects/P/20240102_101010123/E/scans/1/resources/DICOM/files",
            prearchive.FileList,
        ),
    ],
)
def test_each_url_form_reaches_its_endpoint(path, view):
    assert resolve(path).func.view_class is view


@pytest.mark.parametrize(
    ("path", "view"),
    [
        ("/data/JSESSION", auth.jsession),
        ("/data/prearchive/projects/A,B", prearchive.listing),
        ("/data/services/prearchive/move", services.prearchive_move),
        ("/data/projects/P/accessibility/public", projects.accessibility),
        ("/xapi/schemas/xnat", site.schema),
        ("/data/projects/P/bogus", site.not_found),
        ("/data/experiments/E/scans/1/resources/DICOM/bogus", site.not_found),
    ],
)
def test_each_function_endpoint_is_reached(path, view):
    assert resolve(path).func is view


def test_unknown_api_paths_answer_plain_not_found(alice):
    response = Client(HTTP_AUTHORIZATION=basic("alice")).get("/data/nothing/here")
    assert (response.status_code, response.content) == (404, b"Not Found")
    assert response["Content-Type"].startswith("text/plain")


def test_trailing_slash_and_rest_prefix_are_the_same_endpoint(alice):
    client = Client(HTTP_AUTHORIZATION=basic("alice"))
    assert client.get("/data/auth/").status_code == 200
    assert client.get("/REST/auth").status_code == 200


def test_a_method_an_endpoint_does_not_answer_is_405_in_plain_text(alice, project_a):
    client = Client(HTTP_AUTHORIZATION=basic("alice"))
    for method, path in (
        ("PATCH", "/data/projects/A"),
        ("PUT", "/data/projects"),
        ("DELETE", "/data/subjects"),
    ):
        response = client.generic(method, path)
        assert (response.status_code, response.content) == (
            405,
            f"Method {method} is not allowed here".encode(),
        )
        assert response["Content-Type"].startswith("text/plain")
    assert Client().generic("PATCH", "/data/projects/A").status_code == 401
