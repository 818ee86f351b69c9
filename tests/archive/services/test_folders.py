"""archive/content.py directly: rows and folders change together, failures leave both as they were."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from archive.models import File, ImageSession, Resource, Subject
from archive.services.resources import create_resource, delete_file, find_resource, store_file
from archive.services.sessions import create_session, delete_session, relabel_session
from archive.services.subjects import relabel_subject
from tests.factories import make_session_with_files, make_subject
from xnatlite.errors import ArchiveConflict, Forbidden, InvalidLabel, NotFound
from xnatlite.models import AuditEvent


@pytest.fixture
def session_with_files(project_a):
    return make_session_with_files(project_a)


class Boom(Exception):
    pass


class FailingStream(io.BytesIO):
    """A body that breaks after its first chunk (a client that disconnects mid-upload)."""

    def read(self, size=-1):
        if self.tell():
            raise Boom("connection lost")
        return super().read(16)


def test_store_file_leaves_nothing_when_the_stream_breaks(session_with_files, alice):
    notes = session_with_files["notes"]
    with pytest.raises(Boom):
        store_file(notes, "broken.txt", FailingStream(b"x" * 100), by=alice)
    folder = Path(notes.folder)
    assert not (folder / "broken.txt").exists() and not list(folder.glob(".upload-*"))
    assert not File.objects.filter(name="broken.txt").exists()


def test_store_file_refuses_names_that_leave_the_resource(session_with_files, alice):
    for name in ("../x.txt", "/etc/x", "a/../../x", ".hidden", "a//b"):
        with pytest.raises(InvalidLabel):
            store_file(session_with_files["notes"], name, io.BytesIO(b"x"), by=alice)
    assert File.objects.filter(resource=session_with_files["notes"]).count() == 1


def test_delete_puts_the_folder_back_when_the_rows_cannot_go(session_with_files, alice, monkeypatch):
    session = session_with_files["session"]
    folder = Path(session.folder)

    def fail(*args, **kwargs):
        raise Boom("database gone")

    monkeypatch.setattr(ImageSession, "delete", fail)
    with pytest.raises(Boom):
        delete_session(session, by=alice)
    assert folder.is_dir() and ImageSession.objects.filter(pk=session.pk).exists()
    assert all(f.absolute_path.is_file() for f in File.objects.filter(resource__scan__session=session))
    assert not AuditEvent.objects.filter(action="archive.session.deleted").exists()


def test_relabel_subject_moves_its_resource_folder(project_a, alice):
    subject = make_subject(project_a, "S1")
    resource = create_resource(subject, "FORMS", by=alice)
    store_file(resource, "consent.pdf", io.BytesIO(b"%PDF"), by=alice)
    relabel_subject(subject, "S1b", by=alice)
    file = File.objects.get(resource=resource)
    assert "/subjects/S1b/FORMS/" in f"/{file.path}" and file.absolute_path.read_bytes() == b"%PDF"
    assert AuditEvent.objects.filter(action="archive.subject.relabelled", object_label="A/S1b").exists()


def test_relabel_to_a_taken_label_is_a_conflict(session_with_files, alice):
    other = create_session(session_with_files["subject"], "MR2", by=alice)
    with pytest.raises(ArchiveConflict):
        relabel_session(other, "mr1", by=alice)
    other.refresh_from_db()
    assert other.label == "MR2"


def test_create_checks_roles_and_duplicates(project_a, alice, carol, dave):
    subject = make_subject(project_a, "S1")
    with pytest.raises(Forbidden):
        create_session(subject, "E1", by=carol)
    with pytest.raises(NotFound):
        create_session(subject, "E1", by=dave)
    session = create_session(subject, "E1", by=alice, xsi_type="xnat:ctSessionData")
    assert (session.modality, session.accession_id.startswith("XNATLITE_E")) == ("CT", True)
    with pytest.raises(ArchiveConflict):
        create_session(subject, "e1", by=alice)
    with pytest.raises(InvalidLabel):
        create_session(subject, "bad label", by=alice)
    create_resource(session, "R", by=alice)
    with pytest.raises(ArchiveConflict):
        create_resource(session, "R", by=alice)
    assert Resource.objects.filter(session=session).count() == 1
    assert Subject.objects.count() == 1


def test_find_resource_by_label_or_id_only_within_its_owner(session_with_files):
    dicom, notes = session_with_files["dicom"], session_with_files["notes"]
    assert find_resource(session_with_files["scan"], str(dicom.pk)) == dicom
    assert find_resource(session_with_files["scan"], "DICOM") == dicom
    with pytest.raises(NotFound):
        find_resource(session_with_files["scan"], str(notes.pk))


def test_a_file_may_not_take_the_catalogs_name(session_with_files, alice):
    from xnatlite.errors import InvalidInput

    with pytest.raises(InvalidInput):
        store_file(session_with_files["dicom"], "scan_1_catalog.xml", io.BytesIO(b"<x/>"), by=alice)
    assert not File.objects.filter(name="scan_1_catalog.xml").exists()


def test_the_scan_catalog_follows_stored_and_deleted_files(session_with_files, alice):
    from archive import catalogs

    dicom = session_with_files["dicom"]
    catalog = Path(dicom.folder) / catalogs.dicom_catalog_name("1")
    assert {e.name for e in catalogs.read_catalog(catalog)[1]} == {"MR_small.dcm", "CT_small.dcm"}
    delete_file(File.objects.get(resource=dicom, name="CT_small.dcm"), by=alice)
    assert {e.name for e in catalogs.read_catalog(catalog)[1]} == {"MR_small.dcm"}


def test_uploaded_files_get_the_project_group_and_no_access_for_others(project_a, alice, settings):
    import grp
    import os
    import stat

    if os.geteuid() == 0:  # root may give files any group; others only one of their own
        group = next((g for g in grp.getgrall() if g.gr_gid not in (0, os.getegid())), None)
    else:
        group = next((grp.getgrgid(g) for g in os.getgroups() if g != os.getegid()), None)
    if group is None:
        pytest.skip("this account is in no second Unix group")
    settings.PROJECT_GROUPS = True
    project_a.unix_group = group.gr_name
    project_a.save()
    subject = make_subject(project_a, "S1")
    session = create_session(subject, "MR1", by=alice)
    resource = create_resource(session, "NOTES", by=alice)
    store_file(resource, "deep/notes.txt", io.BytesIO(b"secret"), by=alice)
    top = Path(session.folder)
    for path in [top, *top.rglob("*")]:
        info = path.lstat()
        assert info.st_gid == group.gr_gid, path
        assert not info.st_mode & stat.S_IRWXO, path
        if path.is_dir():
            assert info.st_mode & stat.S_ISGID, path
