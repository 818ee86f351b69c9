"""`POST /data/services/import`: DICOM zips into the prearchive through the one ingest path, or
straight into the archive; every hostile archive refused with a clear answer, nothing written outside
the upload folder and nothing already ingested lost."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pydicom
import pytest

from archive.models import File, ImageSession
from prearchive.models import PrearchiveFile, PrearchiveSession, Status
from tests.factories import make_project
from tests.ports import reserved_port
from tests.xnatapi.conftest import files_outside, make_zip, post_import, study_members


def test_it_imports_a_zip_into_the_prearchive_and_answers_the_uri(api, alice, project_a, data_root):
    datasets, members = study_members(3)
    response = post_import(api(alice), make_zip(members))
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    session = PrearchiveSession.objects.get(project=project_a)
    assert response.content.decode() == f"/data/prearchive/projects/A/{session.timestamp}/E9\r\n"
    assert (session.label, session.subject_label, session.status) == ("E9", "S9", Status.READY)
    assert session.file_count == 3 and session.source == "import"
    # The default site script replaces UIDs (hashUID), so compare what it keeps: the pixels.
    stored = [pydicom.dcmread(f.absolute_path) for f in PrearchiveFile.objects.filter(session=session)]
    assert sorted(ds.PixelData for ds in stored) == sorted(ds.PixelData for ds in datasets)
    assert {str(ds.SOPInstanceUID) for ds in stored} == set(
        PrearchiveFile.objects.values_list("sop_instance_uid", flat=True)
    )
    assert files_outside(data_root) == []


def test_it_accepts_multipart_and_tar_gz(api, alice, project_a):
    _, members = study_members(2)
    client = api(alice)
    response = client.post(
        "/data/services/import?project=A&subject=S1&session=M1",
        {"file": io.BytesIO(make_zip(members)), "inbody": "false"},
    )
    assert response.status_code == 200, response.content
    buffer = io.BytesIO()
    _, more = study_members(2)
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in more:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    response = client.post(
        "/data/services/import?project=A&subject=S2&session=T1",
        buffer.getvalue(),
        content_type="application/x-tar",
    )
    assert response.status_code == 200, response.content
    assert set(PrearchiveSession.objects.values_list("label", flat=True)) == {"M1", "T1"}


def test_someone_elses_project_is_not_found_and_nothing_is_stored(api, dave, project_a, data_root):
    _, members = study_members(2)
    response = post_import(api(dave), make_zip(members))
    assert response.status_code == 404
    assert not PrearchiveSession.objects.exists()
    assert files_outside(data_root) == []


def test_a_collaborator_may_not_import(api, carol, project_a):
    _, members = study_members(1)
    assert post_import(api(carol), make_zip(members)).status_code == 403
    assert not PrearchiveSession.objects.exists()


@pytest.mark.parametrize("name", ["../evil.dcm", "/etc/evil.dcm", "a/../../evil.dcm", "C:/evil.dcm"])
def test_it_refuses_members_that_point_outside(api, alice, project_a, data_root, name):
    _, members = study_members(2)
    response = post_import(api(alice), make_zip([members[0], (name, members[1][1])]))
    assert response.status_code == 400
    assert name in response.content.decode() or name.replace("\\", "/") in response.content.decode()
    # The member before the bad one was ingested and stays; nothing was written outside.
    assert PrearchiveFile.objects.count() == 1
    assert files_outside(data_root) == []
    assert not (data_root.parent / "evil.dcm").exists() and not Path("/etc/evil.dcm").exists()


def test_it_refuses_symlinks(api, alice, project_a, data_root):
    _, members = study_members(1)
    response = post_import(api(alice), make_zip(members, symlink="link.dcm"))
    assert response.status_code == 400 and "link.dcm" in response.content.decode()
    assert "symbolic link" in response.content.decode()
    assert PrearchiveFile.objects.count() == 1
    assert files_outside(data_root) == []


def test_it_refuses_tar_links_and_devices(api, alice, project_a, data_root):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        link = tarfile.TarInfo("hard.dcm")
        link.type, link.linkname = tarfile.LNKTYPE, "/etc/passwd"
        archive.addfile(link)
    response = post_import(api(alice), buffer.getvalue())
    assert response.status_code == 400 and "hard.dcm" in response.content.decode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        device = tarfile.TarInfo("dev.dcm")
        device.type = tarfile.CHRTYPE
        archive.addfile(device)
    response = post_import(api(alice), buffer.getvalue())
    assert response.status_code == 400 and "device" in response.content.decode()
    assert files_outside(data_root) == []


def test_it_stops_a_zip_bomb_by_ratio(api, alice, project_a, data_root, settings):
    settings.UPLOAD_MAX_RATIO = 50
    bomb = make_zip([("bomb.dcm", b"\0" * (30 * 1024 * 1024))])
    assert len(bomb) < 100 * 1024
    response = post_import(api(alice), bomb)
    assert response.status_code == 400 and "zip bomb" in response.content.decode()
    assert files_outside(data_root) == [] and not PrearchiveFile.objects.exists()


def test_it_stops_an_archive_larger_than_the_cap(api, alice, project_a, data_root, settings):
    settings.UPLOAD_MAX_BYTES = 64 * 1024
    _, members = study_members(1)
    big = make_zip(members + [("big.bin", bytes(range(256)) * 1024)])
    response = post_import(api(alice), big)
    assert response.status_code == 400 and "bytes" in response.content.decode()
    assert files_outside(data_root) == []


def test_it_stops_nested_archives_past_the_depth(api, alice, project_a, settings, data_root):
    settings.UPLOAD_MAX_DEPTH = 2
    _, members = study_members(1)
    inner = make_zip(members)
    middle = make_zip([("inner.zip", inner)])
    outer = make_zip([("middle.zip", middle)])
    response = post_import(api(alice), outer)
    assert response.status_code == 400 and "nests archives" in response.content.decode()
    # One level of nesting is fine.
    response = post_import(api(alice), middle)
    assert response.status_code == 200, response.content
    assert PrearchiveFile.objects.count() == 1
    assert files_outside(data_root) == []


def test_non_dicom_members_stop_the_upload_naming_the_member(api, alice, project_a, data_root):
    _, members = study_members(3)
    body = make_zip([members[0], ("notes/readme.txt", b"not dicom"), *members[1:]])
    response = post_import(api(alice), body)
    assert response.status_code == 400 and "notes/readme.txt" in response.content.decode()
    assert PrearchiveFile.objects.count() == 1  # the member before it stays, the ones after never came
    assert files_outside(data_root) == []


def test_ignore_unparsable_skips_non_dicom_members(api, alice, project_a):
    _, members = study_members(3)
    body = make_zip([members[0], ("readme.txt", b"not dicom"), ("__MACOSX/._x", b"junk"), *members[1:]])
    response = post_import(api(alice), body, query="project=A&subject=S9&session=E9&Ignore-Unparsable=true")
    assert response.status_code == 200, response.content
    assert PrearchiveFile.objects.count() == 3
    assert (response["X-Imported-Files"], response["X-Skipped-Files"]) == ("3", "1")  # junk is not counted


def test_an_empty_or_dicom_free_upload_is_refused(api, alice, project_a):
    assert post_import(api(alice), b"").status_code == 400
    response = post_import(api(alice), make_zip([("a.txt", b"x")]), query="project=A&Ignore-Unparsable=true")
    assert response.status_code == 400 and "no DICOM" in response.content.decode()


def test_a_single_dicom_body_is_imported_as_is(api, alice, project_a):
    datasets, members = study_members(1)
    response = api(alice).post(
        "/data/services/import?import-handler=gradual-DICOM&PROJECT_ID=A&SUBJECT_ID=S5&EXPT_LABEL=E5",
        members[0][1],
        content_type="application/dicom",
    )
    assert response.status_code == 200, response.content
    session = PrearchiveSession.objects.get(label="E5")
    assert (session.subject_label, session.file_count) == ("S5", 1)


def test_unknown_import_handlers_are_not_found(api, alice, project_a):
    _, members = study_members(1)
    response = post_import(api(alice), make_zip(members), query="project=A&import-handler=XAR")
    assert response.status_code == 404 and not PrearchiveSession.objects.exists()


def test_import_straight_into_the_archive(api, alice, project_a):
    _, members = study_members(2)
    response = post_import(
        api(alice), make_zip(members), query="dest=/archive/projects/A/subjects/S7/experiments/E7"
    )
    assert response.status_code == 200, response.content
    assert response.content.decode() == "/data/archive/projects/A/subjects/S7/experiments/E7\r\n"
    session = ImageSession.objects.get(project=project_a, label="E7")
    assert File.objects.filter(resource__scan__session=session).count() == 2
    assert not PrearchiveSession.objects.exists()


def test_import_into_an_auto_archive_project_answers_the_archived_session(transactional_db, api, alice):
    """As in a real request (no test transaction around it), the archive task runs once the import's
    rows are committed; without a broker it runs in the request, so the answer names the archive."""
    make_project("AUTO", alice, prearchive_code=4)
    _, members = study_members(2)
    response = post_import(api(alice), make_zip(members), query="project=AUTO&subject=S1&session=E1")
    assert response.status_code == 200, response.content
    assert response.content.decode() == "/data/archive/projects/AUTO/subjects/S1/experiments/E1\r\n"
    assert not PrearchiveSession.objects.exists()


def test_import_into_an_auto_archive_project_archives_it(api, alice, django_capture_on_commit_callbacks):
    make_project("AUTO", alice, prearchive_code=4)
    _, members = study_members(2)
    with django_capture_on_commit_callbacks(execute=True):  # the archive task is queued after commit
        response = post_import(api(alice), make_zip(members), query="project=AUTO&subject=S1&session=E1")
    assert response.status_code == 200
    assert ImageSession.objects.filter(project_id="AUTO", label="E1").exists()
    assert not PrearchiveSession.objects.exists()


@pytest.fixture
def broker_down():
    """The Celery app points at a broker nobody answers on (a loopback port held, not listening), as
    when Redis is down; tasks are sent, not run in this process. Everything is put back afterwards."""
    from xnatlite.celery import app

    def forget_connections() -> None:  # the app's pools belong to the broker they were made for
        app._pool = None
        app.amqp._producer_pool = None

    kept = {name: app.conf[name] for name in ("broker_url", "task_always_eager", "task_publish_retry")}
    with reserved_port() as port:
        forget_connections()
        app.conf.update(
            broker_url=f"redis://127.0.0.1:{port}/0", task_always_eager=False, task_publish_retry=False
        )
        try:
            yield
        finally:
            forget_connections()
            app.conf.update(kept)


def test_an_import_while_the_broker_is_down_answers_and_the_sweep_archives_it_later(
    transactional_db, api, alice, broker_down
):
    """Issue 16: an import into an auto-archive project answered 500 after its commit when the broker
    was down, and left a session queued forever. Now it answers where the session is (queued in the
    prearchive), which keeps what was asked for the sweep to queue again (tests/prearchive/test_handoff.py)."""

    make_project("AUTO", alice, prearchive_code=4)
    _, members = study_members(2)
    response = post_import(api(alice), make_zip(members), query="project=AUTO&subject=S1&session=E1")
    assert response.status_code == 200, response.content
    session = PrearchiveSession.objects.get()
    assert response.content.decode() == f"/data/prearchive/projects/AUTO/{session.timestamp}/E1\r\n"
    assert session.status == Status.QUEUED_ARCHIVING and session.archive_request  # for the sweep
    assert not ImageSession.objects.exists()


class ProcessKilled(BaseException):
    """What the import sees when its web server is killed: nothing after this point runs."""


@pytest.fixture
def killed_after(monkeypatch):
    """Make the next import die (as with kill -9 of the web server) after `n` files are ingested."""
    from prearchive import uploads

    def arm(n: int) -> None:
        real, taken = uploads.ingest_file, [0]

        def ingest_then_die(path, context):
            if taken[0] == n:
                monkeypatch.setattr(uploads, "ingest_file", real)  # the retry runs in a new process
                raise ProcessKilled
            taken[0] += 1
            return real(path, context)

        monkeypatch.setattr(uploads, "ingest_file", ingest_then_die)

    return arm


def idle_sweep_later() -> None:
    """The idle builder, run long after the last data arrived."""
    from datetime import timedelta

    from django.utils import timezone

    from prearchive import sweep

    sweep.build_idle_sessions(timezone.now() + timedelta(days=1))


@pytest.mark.parametrize("code", [0, 4], ids=["review", "auto-archive"])
def test_an_interrupted_import_is_never_built_and_its_retry_completes_the_same_session(
    transactional_db, api, alice, killed_after, code
):
    """Issue 16: a web server killed half-way through an import left a partial session that the idle
    builder made READY (or archived, in an auto-archive project); the client's retry then ended in a
    CONFLICT. Now the cut-off upload keeps its session RECEIVING and unbuilt whatever the idle builder
    does; sending the same upload again fills the same session (the files it held are replaced, not
    doubled) and finishes it."""
    make_project("P", alice, prearchive_code=code)
    _, members = study_members(5)
    body, query = make_zip(members), "project=P&subject=S1&session=E1"
    killed_after(3)
    with pytest.raises(ProcessKilled):
        post_import(api(alice), body, query=query)
    partial = PrearchiveSession.objects.get()
    assert (partial.status, partial.file_count, partial.open_upload != "") == (Status.RECEIVING, 3, True)
    idle_sweep_later()
    partial.refresh_from_db()
    assert partial.status == Status.RECEIVING  # neither READY nor archived with 3 of 5 files
    assert not ImageSession.objects.exists()

    response = post_import(api(alice), body, query=query)
    assert response.status_code == 200, response.content
    if code == 4:
        assert response.content.decode() == "/data/archive/projects/P/subjects/S1/experiments/E1\r\n"
        assert File.objects.filter(resource__scan__session__label="E1", resource__label="DICOM").count() == 5
        assert not PrearchiveSession.objects.exists()
    else:
        session = PrearchiveSession.objects.get()
        assert (session.pk, session.status, session.file_count) == (partial.pk, Status.READY, 5)
        assert session.open_upload == "" and PrearchiveFile.objects.filter(session=session).count() == 5


def test_a_member_builds_what_a_cut_off_import_left(transactional_db, api, as_user, alice, killed_after):
    """When nobody sends the upload again, a member decides: the session page says the upload did not
    finish and builds what arrived on request."""
    from django.urls import reverse

    make_project("P", alice)
    _, members = study_members(4)
    killed_after(2)
    with pytest.raises(ProcessKilled):
        post_import(api(alice), make_zip(members), query="project=P&subject=S1&session=E1")
    session = PrearchiveSession.objects.get()
    url = reverse("prearchive-session", args=["P", session.timestamp, session.folder_name])
    page = as_user(alice).get(url).content.decode()
    assert "Upload not finished" in page and "Build what arrived" in page
    listing = as_user(alice).get(reverse("prearchive-project", args=["P"])).content.decode()
    assert "upload not finished" in listing
    action = reverse("prearchive-action", args=["P", session.timestamp, session.folder_name])
    as_user(alice).post(action, {"action": "rebuild"})
    session.refresh_from_db()
    assert (session.status, session.file_count, session.open_upload) == (Status.READY, 2, "")
    assert "Upload not finished" not in as_user(alice).get(url).content.decode()


def test_a_refused_member_leaves_the_files_before_it_as_an_unfinished_upload(transactional_db, api, alice):
    """A member that is not DICOM stops the upload with a 400: the files before it stay, held like a
    cut-off upload, so a half study is never built as if it were whole."""
    make_project("P", alice)
    _, members = study_members(3)
    members.insert(2, ("study/notes.txt", b"not dicom"))
    response = post_import(api(alice), make_zip(members), query="project=P&subject=S1&session=E1")
    assert response.status_code == 400 and "notes.txt" in response.content.decode()
    idle_sweep_later()
    session = PrearchiveSession.objects.get()
    assert (session.status, session.file_count) == (Status.RECEIVING, 2) and session.open_upload


# --- routing honours only projects the uploader may use (issue 14 item 1) ----------------------------
@pytest.mark.parametrize("code", [0, 4])
def test_a_stranger_cannot_route_data_into_a_private_project(api, dave, project_a, code):
    """Study Description `A` names alice's private project; dave has no role in it. Without `project=`
    his upload used to land in A's prearchive (and, when A archives automatically, in its archive),
    and the answer named A. It lands in his own Unassigned space, which only he and admins see."""
    project_a.prearchive_code = code
    project_a.save()
    _, members = study_members(2, study_description="A")
    response = post_import(api(dave), make_zip(members), query="subject=S9&session=E9")
    assert response.status_code == 200, response.content
    session = PrearchiveSession.objects.get()
    assert session.project_id is None and session.uploaded_by == dave
    assert response.content.decode() == f"/data/prearchive/projects/Unassigned/{session.timestamp}/E9\r\n"
    assert b"/A/" not in response.content
    assert not ImageSession.objects.exists() and not File.objects.exists()
    assert session.auto_archive == "Manual"
    listed = api(dave).get("/data/prearchive/projects?format=json").json()["ResultSet"]["Result"]
    assert [(r["project"], r["name"]) for r in listed] == [("Unassigned", "E9")]
    alices = api(project_a.created_by).get("/data/prearchive/projects?format=json").json()
    assert alices["ResultSet"]["Result"] == []


def test_the_routing_chain_goes_on_past_a_project_the_uploader_may_not_use(api, dave, project_a, project_d):
    """A is alice's (dave may not use it), the Accession Number names dave's D: D it is."""
    _, members = study_members(1, study_description="A", accession="D")
    response = post_import(api(dave), make_zip(members), query="subject=S1&session=E1")
    assert response.status_code == 200, response.content
    assert PrearchiveSession.objects.get().project == project_d


def test_a_collaborator_cannot_route_data_into_the_project_either(api, carol, project_a):
    _, members = study_members(1, study_description="A")
    assert post_import(api(carol), make_zip(members), query="subject=S1&session=E1").status_code == 200
    assert PrearchiveSession.objects.get().project is None


def test_a_member_routes_by_the_headers_as_before(api, bob, project_a):
    _, members = study_members(1, study_description="A")
    assert post_import(api(bob), make_zip(members), query="subject=S1&session=E1").status_code == 200
    session = PrearchiveSession.objects.get()
    assert session.project == project_a and session.uploaded_by == bob


def test_two_accounts_uploading_one_study_to_unassigned_get_a_session_each(api, bob, dave, project_a):
    _, members = study_members(2, study_description="NOWHERE")
    for who in (bob, dave):
        assert post_import(api(who), make_zip(members), query="subject=S1&session=E1").status_code == 200
    sessions = PrearchiveSession.objects.order_by("pk")
    assert [(s.project_id, s.uploaded_by) for s in sessions] == [(None, bob), (None, dave)]
    assert [s.file_count for s in sessions] == [2, 2]


def test_import_into_the_archive_refuses_name_and_mrn_labels_unless_confirmed(api, bob, project_a):
    """The identity policy (archiving/identity.py): the study stays in the prearchive, built, for review."""
    _, members = study_members(2)
    dest = "dest=/archive/projects/A/subjects/LOE_LISA/experiments/MRN0044444"
    refused = post_import(api(bob), make_zip(members), query=dest)
    assert refused.status_code == 409
    assert "looks like a person's name" in refused.content.decode()
    row = PrearchiveSession.objects.get(project=project_a)
    assert (row.subject_label, row.label, row.status) == ("LOE_LISA", "MRN0044444", Status.READY)
    assert row.open_upload == "" and not ImageSession.objects.exists()

    _, members = study_members(2)
    confirmed = post_import(
        api(bob),
        make_zip(members),
        query=dest.replace("MRN0044444", "MRN0055555") + "&confirmIdentifiers=true",
    )
    assert confirmed.status_code == 200, confirmed.content
    assert (
        confirmed.content.decode() == "/data/archive/projects/A/subjects/LOE_LISA/experiments/MRN0055555\r\n"
    )
    session = ImageSession.objects.get(project=project_a, label="MRN0055555")
    (path,) = [f.absolute_path for f in File.objects.filter(resource__scan__session=session)][:1]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert (str(ds.PatientName), ds.PatientID) == ("LOE_LISA", "MRN0055555")
