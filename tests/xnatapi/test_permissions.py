"""The role x accessibility x action matrix, walked through the API (xnat-spec.md §2.2-2.3):
what each person gets for reading, downloading, creating, changing and deleting in project A."""

from __future__ import annotations

import io

import pytest

from archive.models import ImageSession, Subject
from archive.services.resources import create_resource, store_file
from tests.factories import UserFactory
from xnatlite import projects

# (role, accessibility) -> expected status for: list subjects, download zip, create subject, set a
# field, delete the session.
OWNER = (200, 200, 201, 200, 200)
MEMBER = (200, 200, 201, 200, 403)
READER = (200, 200, 403, 403, 403)
# A protected project's own listings and writes are refused; its data is not found, as if missing.
SEE_ONLY = (403, 404, 403, 403, 404)
HIDDEN = (404, 404, 404, 404, 404)
MATRIX = {
    ("alice", "private"): OWNER,
    ("bob", "private"): MEMBER,
    ("carol", "private"): READER,
    ("dave", "private"): HIDDEN,
    ("dave", "protected"): SEE_ONLY,
    ("dave", "public"): READER,
    ("carol", "public"): READER,
    ("root", "private"): OWNER,
}


@pytest.mark.parametrize(("who", "accessibility"), list(MATRIX))
def test_role_and_accessibility_decide_every_answer(api, cast, session_with_files, who, accessibility):
    if accessibility != "private":
        projects.update_project(
            session_with_files["session"].project, by=cast["alice"], accessibility=accessibility
        )
    client = api(cast[who])
    base = "/data/projects/A/subjects"
    answers = (
        client.get(base).status_code,
        client.get(f"{base}/S1/experiments/MR1/scans/ALL/files?format=zip").status_code,
        client.put(f"{base}/NEW").status_code,
        client.put(f"{base}/S1?xnat:subjectData/group=changed").status_code,
        client.delete(f"{base}/S1/experiments/MR1").status_code,
    )
    assert answers == MATRIX[(who, accessibility)]
    # The data tells the same story as the answers.
    assert Subject.objects.filter(label="NEW").exists() == (answers[2] == 201)
    assert (Subject.objects.get(label="S1").group == "changed") == (answers[3] == 200)
    assert ImageSession.objects.filter(label="MR1").exists() == (answers[4] != 200)


def test_an_inactive_account_cannot_sign_in(api, project_a):
    user = UserFactory(username="gone", is_active=False)
    assert api(user).get("/data/projects").status_code == 401


def _protected(session_with_files, alice):
    projects.update_project(session_with_files["session"].project, by=alice, accessibility="protected")
    return session_with_files["session"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/data/projects/A/subjects/S1", "S1"),
        ("/data/projects/A/subjects/S1/experiments/MR1", "S1"),
        ("/data/projects/A/experiments/MR1", "MR1"),
        ("/data/projects/A/subjects/S1/experiments/MR1/scans/1", "S1"),
        ("/data/projects/A/experiments/MR1/scans/1/resources/DICOM/files/MR_small.dcm", "MR1"),
        ("/data/archive/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files/notes.txt", "S1"),
    ],
)
def test_a_protected_projects_data_is_not_found_as_if_it_were_missing(
    api, alice, dave, session_with_files, path, name
):
    """Regression: a signed-in stranger got 403 for a protected project's data (the UI answers 404)."""
    _protected(session_with_files, alice)
    hidden, missing = api(dave).get(path), api(dave).get(path.replace(name, "NOPE"))
    assert (
        (hidden.status_code, hidden.content) == (missing.status_code, missing.content) == (404, b"Not Found")
    )
    assert api(alice).get(path).status_code == 200


def test_a_protected_projects_data_by_accession_id_is_not_found_either(api, alice, dave, session_with_files):
    session = _protected(session_with_files, alice)
    subject_id, session_id = session.subject.accession_id, session.accession_id
    for path, ident in (
        (f"/data/subjects/{subject_id}", subject_id),
        (f"/data/experiments/{session_id}", session_id),
        (f"/data/experiments/{session_id}/scans/1/files/MR_small.dcm", session_id),
    ):
        hidden, missing = api(dave).get(path), api(dave).get(path.replace(ident, "NOPE"))
        assert (
            (hidden.status_code, hidden.content)
            == (missing.status_code, missing.content)
            == (404, b"Not Found")
        )


def test_a_protected_projects_own_resource_files_are_not_found_but_its_listings_refused(
    api, alice, dave, project_a
):
    projects.update_project(project_a, by=alice, accessibility="protected")
    resource = create_resource(project_a, "PR", by=alice)
    store_file(resource, "p.txt", io.BytesIO(b"protocol\n"), by=alice)
    client = api(dave)
    hidden_or_missing = [
        "/data/projects/A/files/p.txt",
        "/data/projects/A/files/q.txt",
        "/data/projects/A/resources/PR",
        "/data/projects/A/resources/NOPE",
        "/data/projects/A/resources/PR/files/p.txt",
        "/data/projects/A/resources/NOPE/files/p.txt",
    ]
    for path in hidden_or_missing:
        response = client.get(path)
        assert (response.status_code, response.content) == (404, b"Not Found"), path
    for path in ("/data/projects/A/files/p.txt", "/data/projects/A/resources/PR/files/p.txt"):
        assert b"".join(api(alice).get(path).streaming_content) == b"protocol\n"
    assert client.get("/data/projects/A/files").status_code == 403
    assert client.get("/data/projects/A/resources").status_code == 403
