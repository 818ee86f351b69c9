"""The project list (search, sort, role, sessions waiting in the prearchive) and the header's search
over projects, subjects and sessions the user may read (issue 15)."""

import re

from django.urls import reverse

from prearchive.ingest import IngestContext, ingest_file
from tests.dicomgen import pydicom_test_file
from tests.factories import ImageSessionFactory, make_project, make_subject
from xnatlite.models import Accessibility


def ids(html: str) -> list[str]:
    table = html[html.index('id="project-table"') :]
    return re.findall(r'<td><a href="/projects/([^/]+)/">', table)


def test_the_list_shows_the_role_and_what_waits_and_searches_and_sorts(
    as_user, cast, project_a, session_a, alice
):
    make_project("NEURO_B", alice, name="Brain study")
    ingest_file(pydicom_test_file("MR_small.dcm"), IngestContext(source="test", project="A"))
    client = as_user(cast["bob"])
    html = client.get(reverse("project-list")).content.decode()
    assert ids(html) == ["A"]
    row = html[html.index('href="/projects/A/"') :]
    assert '<td class="role">Member</td>' in row
    assert f'<a href="{reverse("prearchive-project", args=["A"])}">1</a>' in row
    owner = as_user(alice)
    assert ids(owner.get(reverse("project-list")).content.decode()) == ["A", "NEURO_B"]
    assert ids(owner.get(reverse("project-list"), {"sort": "-id"}).content.decode()) == ["NEURO_B", "A"]
    assert ids(owner.get(reverse("project-list"), {"sort": "-sessions"}).content.decode()) == ["A", "NEURO_B"]
    assert ids(owner.get(reverse("project-list"), {"sort": "waiting"}).content.decode()) == ["NEURO_B", "A"]
    assert ids(owner.get(reverse("project-list"), {"q": "brain"}).content.decode()) == ["NEURO_B"]
    assert (
        "No project you may see matches" in owner.get(reverse("project-list"), {"q": "zzz"}).content.decode()
    )
    collaborator = as_user(cast["carol"]).get(reverse("project-list")).content.decode()
    assert '<td class="role">Collaborator</td>' in collaborator
    assert '<td class="num waiting">–</td>' in collaborator  # collaborators have no prearchive


def test_a_protected_project_is_listed_without_its_counts(as_user, cast, project_a, session_a):
    project_a.accessibility = Accessibility.PROTECTED
    project_a.save()
    html = as_user(cast["dave"]).get(reverse("project-list"), {"sort": "-sessions"}).content.decode()
    assert ids(html) == ["D", "A"]  # A's one session does not put it first: its counts are not shown
    row = html[html.index('href="/projects/A/"') :]
    row = row[: row.index("</tr>")]
    assert '<td class="num">1</td>' not in row and '<td class="role">–</td>' in row


def test_the_header_search_finds_what_the_user_may_read(as_user, cast, project_a, session_a, project_d):
    ImageSessionFactory(project=project_d, subject=make_subject(project_d, "SUBJ1_D"), label="SESS1_D")
    url = reverse("search")
    bob = as_user(cast["bob"]).get(url, {"q": "subj1"}).content.decode()
    assert reverse("subject-detail", args=["A", "SUBJ1"]) in bob
    assert "SUBJ1_D" not in bob and "SESS1_D" not in bob  # dave's private project
    sessions = as_user(cast["bob"]).get(url, {"q": "sess1"}).content.decode()
    assert reverse("session-detail", args=["A", "SESS1"]) in sessions
    assert (
        reverse("session-detail", args=["A", session_a.label])
        in as_user(cast["bob"]).get(url, {"q": session_a.accession_id}).content.decode()
    )
    dave = as_user(cast["dave"]).get(url, {"q": "s"}).content.decode()
    assert "SESS1_D" in dave and reverse("session-detail", args=["A", "SESS1"]) not in dave
    assert 'href="/projects/A/"' not in dave
    home = as_user(cast["bob"]).get(reverse("project-list")).content.decode()
    assert 'action="/search/"' in home and 'id="site-search"' in home
    assert as_user(cast["bob"]).get(url).status_code == 200
