"""Deleting a whole project (prearchive/projects.py, issue 15): owners only; archive and prearchive
rows and folders go together, with an audit record; a busy prearchive session or a failure in the
middle leaves everything as it was."""

from unittest import mock

import pytest
from django.contrib.auth.models import Group

from archive.models import File, ImageSession, Scan, Subject
from prearchive import projects as project_services
from prearchive.ingest import IngestContext, ingest_file
from prearchive.models import PrearchiveFile, PrearchiveSession, Status, change_status
from tests.dicomgen import pydicom_test_file
from xnatlite import layout
from xnatlite.errors import Forbidden, InvalidStatus
from xnatlite.models import AuditEvent, Project


@pytest.fixture
def full_a(session_a, project_a, project_d):
    """Project A with SESS1 archived and one READY prearchive session; project D of dave beside it."""
    session = ingest_file(
        pydicom_test_file("CT_small.dcm"), IngestContext(source="test", project="A")
    ).session
    assert change_status(session, Status.BUILDING) and change_status(session, Status.READY)
    return session


def folders() -> list:
    return [layout.archive_project_dir("A"), layout.prearchive_root() / "A"]


def test_it_says_what_goes(full_a, session_a):
    contents = project_services.project_contents(Project.objects.get(pk="A"))
    assert (contents.subjects, contents.sessions, contents.scans) == (1, 1, 2)
    assert contents.files == File.objects.filter(resource__scan__session=session_a).count() == 3
    assert (contents.prearchive_sessions, contents.prearchive_files) == (1, 1)


def test_an_owner_deletes_rows_folders_and_roles_with_an_audit_record(
    full_a, alice, project_d, django_capture_on_commit_callbacks
):
    assert all(f.is_dir() for f in folders())
    d_before = (Subject.objects.filter(project=project_d).count(), layout.archive_project_dir("D").exists())
    with django_capture_on_commit_callbacks(execute=True):
        gone = project_services.delete_project(Project.objects.get(pk="A"), by=alice)
    assert gone.sessions == 1 and gone.prearchive_sessions == 1
    assert not Project.objects.filter(pk="A").exists()
    assert not Subject.objects.filter(project_id="A").exists() and not ImageSession.objects.exists()
    assert not Scan.objects.exists() and not File.objects.exists()
    assert not PrearchiveSession.objects.exists() and not PrearchiveFile.objects.exists()
    assert not any(f.exists() for f in folders())
    assert not Group.objects.filter(name__startswith="A_").exists()
    assert not list((layout.cache_root() / "deleted").glob("*/*"))  # the trash is emptied after commit
    event = AuditEvent.objects.get(action="archive.project.deleted")
    assert event.project_id == "A" and event.actor_name == "alice"
    assert event.details["sessions"] == 1 and event.details["prearchive_sessions"] == 1
    assert AuditEvent.objects.filter(project_id="A").count() > 1  # the project's history stays
    assert (
        Subject.objects.filter(project=project_d).count(),
        layout.archive_project_dir("D").exists(),
    ) == d_before


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_it_refuses_members_and_collaborators(full_a, cast, who):
    with pytest.raises(Forbidden):
        project_services.delete_project(Project.objects.get(pk="A"), by=cast[who])
    assert Project.objects.filter(pk="A").exists() and all(f.is_dir() for f in folders())


def test_a_busy_prearchive_session_refuses_it_and_nothing_changes(full_a, alice):
    ingest_file(pydicom_test_file("MR_small.dcm"), IngestContext(source="test", project="A", session="OTHER"))
    with pytest.raises(InvalidStatus, match="is RECEIVING"):
        project_services.delete_project(Project.objects.get(pk="A"), by=alice)
    full_a.refresh_from_db()
    assert full_a.status == Status.READY  # the claim on the first session was given back
    assert Project.objects.filter(pk="A").exists() and all(f.is_dir() for f in folders())


def test_a_failure_while_deleting_rows_puts_the_folders_back(full_a, alice, session_a):
    files_before = sorted(p for f in folders() for p in f.rglob("*"))
    failing = mock.patch.object(Project, "delete", side_effect=RuntimeError("database went away"))
    with failing, pytest.raises(RuntimeError):
        project_services.delete_project(Project.objects.get(pk="A"), by=alice)
    assert sorted(p for f in folders() for p in f.rglob("*")) == files_before
    full_a.refresh_from_db()
    assert full_a.status == Status.READY
    assert ImageSession.objects.filter(pk=session_a.pk).exists()
    assert not AuditEvent.objects.filter(action="archive.project.deleted").exists()
