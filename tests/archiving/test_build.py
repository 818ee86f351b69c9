"""The archive on disk: XNAT's catalog XML, files left as they are when nothing must change, and
per-project Unix groups (XNATLITE_PROJECT_GROUPS)."""

import grp
import os
import stat
import xml.etree.ElementTree as ET

import pydicom
import pytest

from anonymize import services as anonymize_services
from archive import catalogs
from archive.models import File, ImageSession
from prearchive import handoff
from prearchive.models import PrearchiveFile, Status
from tests.dicomgen import make_study
from tests.factories import TESTS
from tests.sessions import check_archived
from xnatlite import layout


def test_a_catalog_is_xnats_dcm_catalog(tmp_path):
    entries = [catalogs.CatalogEntry("a.dcm", "0" * 32, "1.2.3", "DICOM", "RAW")]
    path = catalogs.write_catalog(tmp_path / "scan_4_catalog.xml", entries, dicom=True, uid="1.2.9")
    root = ET.parse(path).getroot()
    assert root.tag == "{http://nrg.wustl.edu/catalog}DCMCatalog" and root.get("UID") == "1.2.9"
    entry = root.find("{http://nrg.wustl.edu/catalog}entries/{http://nrg.wustl.edu/catalog}entry")
    assert entry.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "cat:dcmEntry"
    assert (entry.get("URI"), entry.get("UID"), entry.get("digest"), entry.get("format")) == (
        "a.dcm",
        "1.2.3",
        "0" * 32,
        "DICOM",
    )
    assert path.read_text().startswith("<?xml version='1.0' encoding='UTF-8'?>\n<cat:DCMCatalog")
    assert catalogs.read_catalog(path) == ("1.2.9", entries)
    assert not list(tmp_path.glob(".*.tmp"))


def test_files_that_need_no_change_are_not_rewritten(ready, project_a, alice):
    anonymize_services.save_project_script(project_a, 'version "6.3"\n', enabled=False, by=alice)
    session = ready(n_series=2, n_instances=3, patient_name="SUBJ1", patient_id="SESS1")
    before = {f.sop_instance_uid: (os.stat(f.absolute_path).st_ino, f.md5) for f in session.files.all()}
    outcome = handoff.archive_session(session, by=TESTS)
    assert (outcome.status, outcome.files, outcome.linked) == ("archived", 6, 6)
    for file in File.objects.filter(resource__scan__session=outcome.session, resource__label="DICOM"):
        inode, digest = before[file.sop_instance_uid]
        assert os.stat(file.absolute_path).st_ino == inode  # the very same file, linked into place
        assert file.md5 == digest
        assert os.stat(file.absolute_path).st_nlink == 1  # the prearchive copy is gone
    check_archived(outcome.session)


def test_without_a_project_script_the_labels_are_still_written(ready, project_a, alice):
    anonymize_services.save_project_script(project_a, 'version "6.3"\n', enabled=False, by=alice)
    session = ready(n_series=1, n_instances=2, patient_name="SUBJ1", patient_id="SESS1")
    outcome = handoff.archive_session(session, by=TESTS, subject="NEWSUBJ", label="NEWSESS")
    assert outcome.linked == 0
    for file in File.objects.filter(resource__scan__session=outcome.session):
        ds = pydicom.dcmread(file.absolute_path)
        assert (str(ds.PatientName), ds.PatientID, ds.AccessionNumber) == ("NEWSUBJ", "NEWSESS", "ACC777")
        assert not any(item.CodeValue.startswith("XNLPROJ") for item in ds.DeidentificationMethodCodeSequence)
    check_archived(outcome.session)


def test_prevent_anon_skips_the_project_script_but_not_the_labels(ready, project_a, alice):
    session = ready(
        n_series=1, n_instances=1, context={"prevent_anon": True}, patient_name="X", patient_id="Y"
    )
    assert session.prevent_anon
    archived = handoff.archive_session(session, by=alice, subject="S9", label="E9").session
    ds = pydicom.dcmread(File.objects.get(resource__scan__session=archived).absolute_path)
    assert (str(ds.PatientName), ds.PatientID, ds.AccessionNumber) == ("S9", "E9", "ACC777")
    assert "DeidentificationMethodCodeSequence" not in ds


def test_a_rejected_instance_is_not_archived(ready, project_a, alice):
    anonymize_services.save_project_script(
        project_a, 'version "6.3"\n(0020,0013) = "2" ? reject\n', enabled=True, by=alice
    )
    session = ready(datasets=make_study(1, 3, study_description="A", patient_id="R1"))
    outcome = handoff.archive_session(session, by=TESTS)
    assert (outcome.files, outcome.rejected) == (2, 1)
    assert len(check_archived(outcome.session)["1"]) == 2


def _group_we_can_use() -> grp.struct_group | None:
    if os.geteuid() == 0:
        return next((g for g in grp.getgrall() if g.gr_gid not in (0, os.getegid())), None)
    return next((grp.getgrgid(g) for g in os.getgroups() if g != os.getegid()), None)


def test_project_groups_own_the_archive_and_shut_others_out(ready, project_a, alice, settings):
    group = _group_we_can_use()
    if group is None:
        pytest.skip("this account is in no second Unix group")
    settings.PROJECT_GROUPS = True
    project_a.unix_group = group.gr_name
    project_a.save()
    archived = handoff.archive_session(ready(n_series=2, n_instances=2), by=alice).session
    from archive import previews

    previews.make_session_previews(archived.pk)
    top = layout.archive_project_dir("A")
    paths = [top, *top.rglob("*")]
    assert len([p for p in paths if p.is_file()]) >= 4 + 2 + 4  # DICOM, catalogs, previews
    for path in paths:
        info = path.lstat()
        assert info.st_gid == group.gr_gid, path
        assert info.st_mode & 0o007 == 0, f"others may read {path}"
        if path.is_dir():
            assert stat.S_IMODE(info.st_mode) == 0o2750, path
        else:
            assert stat.S_IMODE(info.st_mode) == 0o640, path


def test_a_missing_project_group_stops_the_archive_with_a_reason(ready, project_a, alice, settings):
    settings.PROJECT_GROUPS = True
    project_a.unix_group = "no-such-group-xnatlite"
    project_a.save()
    session = ready(n_series=1, n_instances=1)
    with pytest.raises(Exception, match="Unix group 'no-such-group-xnatlite'"):
        handoff.archive_session(session, by=alice)
    session.refresh_from_db()
    assert session.status == Status.ERROR and "no-such-group-xnatlite" in session.status_reason
    assert not ImageSession.objects.exists()
    assert all(f.absolute_path.is_file() for f in PrearchiveFile.objects.filter(session=session))


def test_without_the_setting_folders_keep_their_usual_modes(ready, project_a, alice, settings):
    settings.PROJECT_GROUPS = False
    project_a.unix_group = "daemon"
    project_a.save()
    archived = handoff.archive_session(ready(n_series=1, n_instances=1), by=alice).session
    folder = layout.archive_session_dir("A", archived.label)
    assert folder.stat().st_gid == os.getegid()
