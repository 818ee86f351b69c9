"""xnatlite-upload, the command-line upload tool, run as a real process against a live server: it lists
the studies of a folder, sends the chosen ones into a project's prearchive or archive with progress,
and refuses clearly (sending nothing) on a wrong password, a project the user may not use, a
collaborator, an ambiguous session label or an unknown study."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pydicom
import pytest
from pydicom.data import get_testdata_file

from archive.models import File, ImageSession
from prearchive.models import PrearchiveFile, PrearchiveSession, Status
from tests.dicomgen import make_study, write_study
from tests.e2e.conftest import ROOT
from xnatlite.models import AuditEvent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def run_tool(*args: str, password: str = "pw") -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "XNATLITE_PASSWORD": password, "HOME": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "uploadtool", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def folder(tmp_path):
    """Two generated MR studies in nested folders, a bundled CT instance, and files that are not
    DICOM instances: a text file and a DICOMDIR."""
    root = tmp_path / "export"
    first = make_study(n_series=2, n_instances=3, patient_name="Doe^Jane", patient_id="P1")
    second = make_study(n_instances=2, patient_name="Roe^Rick", patient_id="P2", study_description="B")
    write_study(first, root / "jane" / "mr")
    write_study(second, root / "rick")
    shutil.copy(get_testdata_file("CT_small.dcm"), root / "ct.dcm")
    shutil.copy(get_testdata_file("DICOMDIR"), root / "DICOMDIR")
    (root / "notes.txt").write_text("not DICOM")
    ct = pydicom.dcmread(root / "ct.dcm")
    return root, first[0].StudyInstanceUID, second[0].StudyInstanceUID, ct.StudyInstanceUID


def test_list_shows_each_study_and_skips_the_rest(folder):
    root, first, second, ct = folder
    result = run_tool("list", str(root))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{first}\n" in out and f"{second}\n" in out and f"{ct}\n" in out
    assert "2 series, 6 files" in out and "patient Doe^Jane (P1)" in out
    assert "1 series, 2 files" in out and "patient Roe^Rick (P2)" in out
    assert "3 studies; 2 files that are not DICOM instances skipped" in out
    assert result.stderr == ""  # no warnings from reading the files that are not DICOM


def test_send_one_study_with_labels_into_the_prearchive(live_server, project_a, folder):
    root, first, _, _ = folder
    result = run_tool(
        "send", str(root), "--server", live_server.url, "--user", "bob", "--project", "A",
        "--study", first, "--subject", "SUBJ9", "--session", "SESS9",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    session = PrearchiveSession.objects.get()  # only the chosen study was sent
    assert (session.project_id, session.subject_label, session.label) == ("A", "SUBJ9", "SESS9")
    assert (session.file_count, session.status) == (6, Status.READY)
    assert f"-> /data/prearchive/projects/A/{session.timestamp}/SESS9" in result.stdout
    assert "100%" in result.stderr  # the progress, line by line when not on a terminal
    stored = [pydicom.dcmread(f.absolute_path) for f in PrearchiveFile.objects.filter(session=session)]
    assert len({ds.SOPInstanceUID for ds in stored}) == 6  # the site script remapped the UIDs
    assert {(str(ds.PatientName), ds.PatientID) for ds in stored} == {("Doe^Jane", "P1")}  # kept for review


def test_send_every_study_straight_into_the_archive(live_server, project_a, folder):
    """Routing makes the subject labels Doe_Jane and Roe_Rick from Patient Name: the identity policy
    (archiving/identity.py) refuses them until --confirm-identifiers says they are meant."""
    root, *_ = folder
    send = ("send", str(root), "--server", live_server.url, "--user", "alice", "--project", "A", "--archive")
    result = run_tool(*send)
    assert result.returncode == 1
    assert "3 studies to send to project A; 2 other files skipped" in result.stdout
    assert result.stdout.count("-> /data/archive/projects/A/") == 1  # the CT's labels are codes
    assert result.stderr.count("or send it with --confirm-identifiers") == 2
    assert "the subject label 'Doe_Jane' looks like a person's name" in result.stderr
    waiting = PrearchiveSession.objects.filter(project_id="A")
    assert sorted(waiting.values_list("subject_label", "status")) == [
        ("Doe_Jane", Status.READY),
        ("Roe_Rick", Status.READY),
    ]

    more = root.parent / "more"
    write_study(make_study(n_instances=3, patient_name="Poe^Pia", patient_id="P3"), more)
    result = run_tool("send", str(more), *send[2:], "--confirm-identifiers")
    assert result.returncode == 0, result.stderr
    assert "-> /data/archive/projects/A/subjects/Poe_Pia/experiments/P3" in result.stdout
    sessions = ImageSession.objects.filter(project_id="A")
    assert sessions.count() == 2  # one per study (their UIDs remapped by the site script)
    assert File.objects.filter(resource__scan__session__in=sessions, resource__label="DICOM").count() == 4
    event = AuditEvent.objects.get(
        action="prearchive.session.archive_requested", details__confirm_identifiers=True
    )
    assert event.actor.username == "alice"


def test_refusals_send_nothing(live_server, project_a, dave, folder):
    root, first, second, _ = folder
    base = ["send", str(root), "--server", live_server.url, "--project", "A"]

    wrong = run_tool(*base, "--user", "bob", password="not-the-password")
    assert wrong.returncode == 1 and "refused the user name or password (401)" in wrong.stderr

    stranger = run_tool(*base, "--user", "dave")
    assert stranger.returncode == 1 and "No project 'A'" in stranger.stderr

    collaborator = run_tool(*base, "--user", "carol", "--study", first)
    assert collaborator.returncode == 1 and "You may not import the study (403)" in collaborator.stderr

    ambiguous = run_tool(*base, "--user", "bob", "--session", "ONE")
    assert ambiguous.returncode == 1 and "choose one with --study" in ambiguous.stderr

    unknown = run_tool(*base, "--user", "bob", "--study", "1.2.3.4")
    assert unknown.returncode == 1 and "No study 1.2.3.4 in the folder" in unknown.stderr

    bad_label = run_tool(*base, "--user", "bob", "--study", second, "--session", "../up")
    assert bad_label.returncode == 1 and "(400)" in bad_label.stderr

    assert not PrearchiveSession.objects.exists() and not ImageSession.objects.exists()


def test_an_unreachable_server_is_said_so(folder):
    root, *_ = folder
    result = run_tool("send", str(root), "--server", "http://127.0.0.1:9/", "--project", "A", "--user", "bob")
    assert result.returncode == 1 and "Cannot talk to http://127.0.0.1:9" in result.stderr
