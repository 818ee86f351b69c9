"""The role x accessibility x action matrix, walked through the API (xnat-spec.md §2.2-2.3):
what each person gets for reading, downloading, creating, changing and deleting in project A."""

from __future__ import annotations

import pytest

from archive.models import ImageSession, Subject
from tests.factories import UserFactory
from xnatlite import projects

# (role, accessibility) -> expected status for: list subjects, download zip, create subject, set a
# field, delete the session.
OWNER = (200, 200, 201, 200, 200)
MEMBER = (200, 200, 201, 200, 403)
READER = (200, 200, 403, 403, 403)
SEE_ONLY = (403, 403, 403, 403, 403)  # refused at the project: whether S1 exists stays unknown
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
