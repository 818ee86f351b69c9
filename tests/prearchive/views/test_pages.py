"""The prearchive listing, session page and upload page, with data that came in through ingest."""

import io
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from prearchive.ingest import IngestContext, ingest_file
from prearchive.models import PrearchiveFile, PrearchiveSession, Status, change_status
from tests.dicomgen import pydicom_test_file
from tests.factories import make_project
from xnatlite import layout


def receive(name: str, project: str | None = "A", **context) -> PrearchiveSession:
    """One instance through the real ingest path, as the receiver or an upload would send it."""
    context.setdefault("source", "test")
    return ingest_file(pydicom_test_file(name), IngestContext(project=project, **context)).session


def page_url(session: PrearchiveSession) -> str:
    return reverse("prearchive-session", args=[session.project_name, session.timestamp, session.folder_name])


def test_member_sees_the_project_prearchive_with_status_and_counts(as_user, project_a, bob):
    session = receive("MR_small.dcm", subject="SUBJ9", session="VISIT1")
    response = as_user(bob).get(reverse("prearchive-project", args=["A"]))
    assert response.status_code == 200
    (row,) = response.context["rows"]
    assert (row.pk, row.status, row.subject_label, row.label) == (session.pk, "RECEIVING", "SUBJ9", "VISIT1")
    html = response.content.decode()
    assert page_url(session) in html
    assert 'data-refresh="busy"' in html  # RECEIVING: the list refreshes itself
    assert "refresh.js" in html


def test_ready_rows_do_not_refresh_and_show_an_error_reason(as_user, project_a, alice):
    session = receive("MR_small.dcm")
    assert change_status(session, Status.BUILDING)
    assert change_status(
        session, Status.ERROR, reason="The session folder holds more than one Study Instance UID"
    )
    response = as_user(alice).get(reverse("prearchive-project", args=["A"]))
    html = response.content.decode()
    assert 'data-refresh="idle"' in html
    assert "holds more than one Study Instance UID" in html
    detail = as_user(alice).get(page_url(session)).content.decode()
    assert "danger-box" in detail and "holds more than one Study Instance UID" in detail


def test_project_page_counts_waiting_sessions_for_members_only(as_user, project_a, bob, carol):
    receive("MR_small.dcm")
    receive("CT_small.dcm")
    member = as_user(bob).get(reverse("project-detail", args=["A"]))
    assert member.context["prearchive_waiting"] == 2
    assert "2 sessions waiting" in member.content.decode()
    collaborator = as_user(carol).get(reverse("project-detail", args=["A"]))
    assert collaborator.context["prearchive_waiting"] is None
    assert b"waiting" not in collaborator.content


def test_collaborator_and_stranger_cannot_open_the_prearchive(as_user, project_a, carol, dave):
    session = receive("MR_small.dcm")
    assert as_user(carol).get(reverse("prearchive-project", args=["A"])).status_code == 403
    assert as_user(carol).get(page_url(session)).status_code == 404
    assert as_user(dave).get(reverse("prearchive-project", args=["A"])).status_code == 404
    assert as_user(dave).get(page_url(session)).status_code == 404
    assert as_user(dave).get(reverse("prearchive")).context["rows"] == []


def test_site_wide_prearchive_shows_each_user_their_projects_and_admins_unassigned(
    as_user, cast, bob, dave, root
):
    in_a = receive("MR_small.dcm", project="A")
    in_d = receive("CT_small.dcm", project="D", user=dave)
    unassigned = receive("rtplan.dcm", project=None)
    assert unassigned.project_id is None

    def listed(user, **query):
        return {row.pk for row in as_user(user).get(reverse("prearchive"), query).context["rows"]}

    assert listed(bob) == {in_a.pk}
    assert listed(dave) == {in_d.pk}
    assert listed(root) == {in_a.pk, in_d.pk, unassigned.pk}
    assert listed(root, project="Unassigned") == {unassigned.pk}
    assert listed(root, project="D") == {in_d.pk}
    assert as_user(root).get(page_url(unassigned)).status_code == 200
    assert as_user(bob).get(page_url(unassigned)).status_code == 404


def test_session_page_summarises_scans(as_user, project_a, bob):
    session = receive("MR_small.dcm", subject="S1", session="E1")
    response = as_user(bob).get(page_url(session))
    assert response.status_code == 200
    (scan,) = response.context["scans"]
    file = PrearchiveFile.objects.get(session=session)
    assert (scan["scan_id"], scan["files"], scan["size"], scan["modality"]) == (
        file.scan_id,
        1,
        file.size,
        "MR",
    )
    assert response.context["project"] == project_a


def test_prearchive_listing_query_count_does_not_grow(as_user, alice, django_assert_max_num_queries):
    counts = []
    for project_id, n in (("FEW", 10), ("MANY", 200)):
        project = make_project(project_id, alice)
        now = timezone.now()
        PrearchiveSession.objects.bulk_create(
            PrearchiveSession(
                project=project,
                timestamp="20240101_120000000",
                folder_name=f"S{k:04d}",
                label=f"S{k:04d}",
                status=Status.READY,
                created_at=now,
                last_modified=now,
            )
            for k in range(n)
        )
        client = as_user(alice)
        client.get(reverse("prearchive-project", args=[project_id]))
        with django_assert_max_num_queries(20) as captured:
            response = client.get(reverse("prearchive-project", args=[project_id]), {"per_page": 500})
        assert len(response.context["rows"]) == n
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_the_listing_version_changes_when_a_session_arrives_and_tells_strangers_nothing(
    as_user, project_a, bob, dave
):
    url = reverse("prearchive-version")
    before = as_user(bob).get(url, {"project": "A"}).json()["version"]
    page = as_user(bob).get(reverse("prearchive-project", args=["A"])).content.decode()
    assert f'data-version="{before}"' in page and 'data-watch="/prearchive/version/?project=A"' in page
    empty = as_user(dave).get(url, {"project": "A"}).json()["version"]
    ingest_file(pydicom_test_file("MR_small.dcm"), IngestContext(source="test", project="A"))
    after = as_user(bob).get(url, {"project": "A"}).json()["version"]
    assert after != before
    assert as_user(bob).get(url).json()["version"] == after  # every project bob may use: only A
    assert as_user(dave).get(url, {"project": "A"}).json()["version"] == empty == before


# --- upload -------------------------------------------------------------------------------------------
def dicom_zip(*members: tuple[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "study.zip"
    return buffer


def test_upload_page_offers_only_projects_the_user_may_upload_to(as_user, cast, bob, carol):
    choices = as_user(bob).get(reverse("upload")).context["form"].fields["project"].choices
    assert choices == [("A", "A")]
    page = as_user(carol).get(reverse("upload"))
    assert page.context["projects"] == [] and "You may not upload" in page.content.decode()


def test_upload_a_zip_with_labels_returns_the_prearchive_sessions(as_user, project_a, bob):
    upload = dicom_zip(
        ("study/mr.dcm", pydicom_test_file("MR_small.dcm").read_bytes()),
        ("study/ct.dcm", pydicom_test_file("CT_small.dcm").read_bytes()),
        ("study/readme.txt", b"not dicom"),
    )
    response = as_user(bob).post(
        reverse("upload"),
        {"project": "A", "subject": "SUBJ7", "session": "", "files": [upload]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["files"] == 2 and body["error"] == ""
    assert body["skipped"] == ["study.zip: study/readme.txt"]
    sessions = PrearchiveSession.objects.filter(project=project_a)
    assert {s.subject_label for s in sessions} == {"SUBJ7"} and sessions.count() == 2
    assert {row["url"] for row in body["sessions"]} == {page_url(s) for s in sessions}
    for file in PrearchiveFile.objects.filter(session__project=project_a):
        path = layout.absolute_path(file.path)
        assert path.is_file() and path.is_relative_to(layout.prearchive_root() / "A")
    assert {s.source for s in sessions} == {"web"}


def test_upload_of_loose_files_without_javascript_renders_the_result(as_user, project_a, alice):
    mr = io.BytesIO(pydicom_test_file("MR_small.dcm").read_bytes())
    mr.name = "one.dcm"
    junk = io.BytesIO(b"hello")
    junk.name = "notes.txt"
    response = as_user(alice).post(
        reverse("upload"), {"project": "A", "session": "SESS_X", "files": [mr, junk]}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 file received into 1 prearchive session" in html
    assert "notes.txt" in html
    session = PrearchiveSession.objects.get(project=project_a)
    assert session.label == "SESS_X" and session.file_count == 1
    assert page_url(session) in html


@pytest.mark.parametrize(
    ("members", "named"),
    [
        ((), "study.zip"),  # an empty zip
        ((("junk/a.txt", b"hello"), ("junk/b.bin", b"\x00" * 200)), "study.zip: junk/a.txt"),
    ],
)
def test_an_upload_with_nothing_dicom_is_refused_naming_the_files(as_user, project_a, bob, members, named):
    """Issue 15: an empty zip or a zip of junk is a failure that names the files, not "0 files received"."""
    response = as_user(bob).post(
        reverse("upload"), {"project": "A", "files": [dicom_zip(*members)]}, HTTP_ACCEPT="application/json"
    )
    body = response.json()
    assert response.status_code == 400 and body["unreadable"] is True
    assert named in body["error"] and body["files"] == 0
    assert not PrearchiveSession.objects.exists()
    html = as_user(bob).post(reverse("upload"), {"project": "A", "files": [dicom_zip(*members)]})
    page = html.content.decode()
    assert "danger-box" in page and named in page and "ok-box" not in page


def test_upload_into_a_project_the_user_may_not_use_is_refused(as_user, project_a, carol, dave):
    data = {"project": "A", "files": [dicom_zip(("a.dcm", pydicom_test_file("MR_small.dcm").read_bytes()))]}
    for user in (carol, dave):
        response = as_user(user).post(reverse("upload"), data, HTTP_ACCEPT="application/json")
        assert response.status_code == 400
        assert "project" in response.json()["error"]
    assert not PrearchiveSession.objects.exists()
    assert not (layout.prearchive_root() / "A").exists()


def test_a_hostile_zip_is_refused_and_nothing_lands_outside(as_user, project_a, bob, data_root):
    upload = dicom_zip(
        ("ok.dcm", pydicom_test_file("MR_small.dcm").read_bytes()),
        ("../../escape.dcm", pydicom_test_file("CT_small.dcm").read_bytes()),
    )
    response = as_user(bob).post(
        reverse("upload"), {"project": "A", "files": [upload]}, HTTP_ACCEPT="application/json"
    )
    body = response.json()
    assert "escape.dcm" in body["error"]
    assert not list(data_root.parent.glob("**/escape.dcm"))
    # What came before the bad member stays and is reported; nothing after it is read.
    assert PrearchiveFile.objects.count() == 1 and body["files"] == 1


@pytest.mark.parametrize("label", ["../x", "a b", "x" * 65])
def test_upload_refuses_bad_labels(as_user, project_a, bob, label):
    data = {"project": "A", "subject": label, "files": [dicom_zip(("a.dcm", b"x"))]}
    response = as_user(bob).post(reverse("upload"), data, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "subject" in response.json()["error"]
    assert not PrearchiveSession.objects.exists()


def test_upload_needs_a_file_and_sign_in(client, as_user, project_a, bob):
    response = as_user(bob).post(reverse("upload"), {"project": "A"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "Choose a zip" in response.json()["error"]
    assert client.post(reverse("upload"), {"project": "A"}).status_code == 302


def test_upload_without_csrf_token_is_refused(project_a, bob):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    upload = dicom_zip(("a.dcm", pydicom_test_file("MR_small.dcm").read_bytes()))
    response = client.post(reverse("upload"), {"project": "A", "files": [upload]})
    assert response.status_code == 403
    assert not PrearchiveSession.objects.exists()


def test_session_page_shows_the_header_of_a_scans_first_file(as_user, project_a, bob):
    session = receive("CT_small.dcm")
    scan_id = PrearchiveFile.objects.get(session=session).scan_id
    page = as_user(bob).get(page_url(session), {"scan": scan_id})
    rows = {row.keyword: row.value for row in page.context["header"]}
    assert rows["Modality"] == "CT" and "PixelData" not in rows
    assert f"DICOM header of the first file of scan {scan_id}" in page.content.decode()
    assert as_user(bob).get(page_url(session), {"scan": "nope"}).context["header"] == []


def test_the_prearchive_shows_which_ae_title_sent_a_session(as_user, project_a, bob):
    from prearchive.ingest import ReceiverInfo

    sender = ReceiverInfo("XNATLITE", "CT_SCANNER_3", "10.0.0.7")
    context = IngestContext(source="dicom", project="A", receiver=sender)
    session = ingest_file(pydicom_test_file("MR_small.dcm"), context).session
    session.refresh_from_db()
    assert (session.project_id, session.calling_ae) == ("A", "CT_SCANNER_3")
    listing = as_user(bob).get(reverse("prearchive-project", args=["A"])).content.decode()
    assert '<div class="sender-ae">from CT_SCANNER_3</div>' in listing
    page = as_user(bob).get(page_url(session)).content.decode()
    assert 'sent by AE title <strong class="sender-ae">CT_SCANNER_3</strong>' in page
