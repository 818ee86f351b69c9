"""A subject's and a session's history by role (issue 15): owners see everything, including where the
data came from in the prearchive (a path named after the original Patient ID) and the labels before a
rename; members, collaborators and readers of a public project see no pre-archive identifier."""

import pytest
from django.urls import reverse

from archive.models import ImageSession
from archiving import relabel
from prearchive import handoff
from xnatlite import projects
from xnatlite.models import Accessibility

ORIGINAL = ("LOE_LISA", "MRN0044444")  # what routing made of Patient Name and Patient ID


@pytest.fixture
def renamed(transactional_db, ready, project_a, alice, bob):
    """A session archived (confirmed) as LOE_LISA / MRN0044444, then renamed to codes by the owner."""
    session = ready(n_series=1, n_instances=2, patient_name="LOE^LISA", patient_id="MRN0044444")
    assert (session.subject_label, session.folder_name) == ORIGINAL
    archived = handoff.archive_session(session, by=bob, confirm_identifiers=True).session
    relabel.relabel_session(archived, "SUBJ1_MR1", by=alice)
    relabel.relabel_subject(archived.subject, "SUBJ1", by=alice)
    return ImageSession.objects.select_related("subject").get(pk=archived.pk)


def pages(client) -> str:
    session = client.get(reverse("session-detail", args=["A", "SUBJ1_MR1"]))
    subject = client.get(reverse("subject-detail", args=["A", "SUBJ1"]))
    assert session.status_code == subject.status_code == 200
    return session.content.decode() + subject.content.decode()


def test_the_owner_sees_where_it_came_from_and_the_labels_before(renamed, as_user, alice):
    html = pages(as_user(alice))
    assert "prearchive: /prearchive/projects/A/" in html and "/MRN0044444" in html
    assert "old_label: LOE_LISA" in html and "old_label: MRN0044444" in html


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_members_and_collaborators_see_no_pre_archive_identifier(renamed, as_user, cast, who):
    html = pages(as_user(cast[who]))
    for identifier in ORIGINAL:
        assert identifier not in html, who
    assert "archive.session.archived" in html and "archive.session.relabelled" in html  # what, not from what
    assert "files: 2" in html  # counts stay


def test_readers_of_a_public_project_see_no_pre_archive_identifier(renamed, as_user, project_a, alice, dave):
    projects.update_project(project_a, by=alice, accessibility=Accessibility.PUBLIC)
    html = pages(as_user(dave))
    for identifier in ORIGINAL:
        assert identifier not in html
    assert "archive.subject.created" in html and "A/SUBJ1" in html  # named by today's label


def test_project_history_speaks_words_and_filters_by_kind_and_user(as_user, project_a, session_a, alice, bob):
    """Issue 15: "Session fields changed", not `archive.session.updated`; a kind and a user to filter by."""
    from archive.events import EVENT_KINDS, EVENT_WORDS, event_words
    from xnatlite import audit

    audit.record(bob, "archive.session.updated", session_a, fields=["note"])
    audit.record(alice, "archive.file.stored", session_a, file="a.txt", size=3)
    url = reverse("project-history", args=["A"])
    client = as_user(alice)
    everything = client.get(url).content.decode()
    assert ">Session fields changed</span>" in everything and ">File uploaded</span>" in everything
    assert ">Role given</span>" in everything and "<code>archive." not in everything
    files = client.get(url, {"kind": "file"}).content.decode()
    assert "File uploaded" in files and "Session fields changed" not in files and "Role given" not in files
    by_bob = client.get(url, {"user": "bob"}).content.decode()
    assert "Session fields changed" in by_bob and "File uploaded" not in by_bob
    assert '<option value="bob">bob</option>' in everything
    assert all(any(a.startswith(p) for kind in EVENT_KINDS.values() for p in kind[1]) for a in EVENT_WORDS)
    assert event_words("archive.thing.done_twice") == "Thing done twice"
