"""The browser UI in a real headless Chromium (Debian's /usr/bin/chromium) against a live server.

Playwright drives the browser; pages are served by pytest-django's live server in this process,
so the test sees the same database and data folder. Screenshots of the main pages are saved under
test-artifacts/screenshots/. Every request the browser makes must go to the live server: the UI
loads nothing from the internet; and the Content-Security-Policy blocks nothing any page does.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pydicom
import pytest

from anonymize import services as anonymize_services
from archive.models import File, ImageSession
from prearchive import operations
from prearchive.ingest import IngestContext, ingest_file
from prearchive.models import PrearchiveFile, PrearchiveSession, Status, change_status
from tests.builders import add_dicom_scan
from tests.dicomgen import make_study, pydicom_test_file, write_study
from tests.factories import ImageSessionFactory, UserFactory, make_project, make_subject
from xnatlite import cache, layout
from xnatlite.models import Project

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is missing (apt install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Visit:
    """A browser page on the live server that remembers every host it asked for."""

    def __init__(self, browser, base_url: str, **context_options):
        self.base = base_url.rstrip("/")
        options = {"viewport": {"width": 1280, "height": 900}, **context_options}
        self.context = browser.new_context(accept_downloads=True, **options)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.hosts: set[str] = set()
        self.page.on("request", lambda request: self.hosts.add(urlsplit(request.url).netloc))
        # What the Content-Security-Policy blocked (Chromium reports it on the console): nothing may be.
        self.blocked: list[str] = []
        self.page.on(
            "console",
            lambda message: "Content Security Policy" in message.text and self.blocked.append(message.text),
        )

    def go(self, path: str):
        response = self.page.goto(self.base + path)
        assert response is not None
        return response

    def sign_in(self, username: str, password: str = "pw") -> None:
        self.go("/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("text=Sign out")

    def create_project(self, project_id: str, name: str) -> None:
        self.page.click("text=New project")
        self.page.fill("#id_project_id", project_id)
        self.page.fill("#id_name", name)
        self.page.click("button:has-text('Create project')")
        self.page.wait_for_selector(f"text=Project {project_id} created")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def only_local_requests(self) -> bool:
        return self.hosts == {urlsplit(self.base).netloc}

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, live_server):
    visits: list[Visit] = []

    def open_visit(**options) -> Visit:
        v = Visit(browser, live_server.url, **options)
        visits.append(v)
        return v

    yield open_visit
    for v in visits:
        v.close()
    assert [message for v in visits for message in v.blocked] == []


@pytest.fixture
def archived(transactional_db, cast, project_a):
    """Project A with one archived session of two scans of real DICOM files."""
    session = ImageSessionFactory(project=project_a, subject=make_subject(project_a, "SUBJ1"), label="SESS1")
    add_dicom_scan(session, "1", "MR_small.dcm", copies=2)
    add_dicom_scan(session, "2", "CT_small.dcm")
    return session


def test_sign_in_create_a_project_and_sign_out(visit, transactional_db, settings):
    settings.PROJECT_CREATION = "everyone"  # the live server runs in this process
    UserFactory(username="erin")
    v = visit()
    v.go("/")
    v.shot("sign-in")
    v.sign_in("erin")
    v.create_project("BRAIN_1", "Brain study")
    assert Project.objects.filter(pk="BRAIN_1", name="Brain study").exists()
    v.shot("project-new")
    v.page.click("nav[aria-label='Main'] >> text=Projects")
    assert v.page.locator("table.listing >> text=BRAIN_1").count() == 1
    v.shot("projects")
    v.page.click("text=Sign out")
    v.page.wait_for_selector("#id_password")
    assert v.only_local_requests(), v.hosts


def test_request_a_project_and_an_admin_approves_it(visit, transactional_db):
    """XNATLITE_PROJECT_CREATION=admins (the default, issue 14): erin requests a project, root approves
    it on the Project requests page, erin owns it."""
    UserFactory(username="erin")
    UserFactory(username="root", is_staff=True, is_superuser=True)
    erin = visit()
    erin.sign_in("erin")
    erin.page.click("text=Request a project")
    erin.page.fill("#id_project_id", "NEURO_7")
    erin.page.fill("#id_name", "Neuro seven")
    erin.page.fill("#id_reason", "MR study; the scanner sends Study Description NEURO_7")
    erin.page.click("button:has-text('Request project')")
    erin.page.wait_for_selector("text=Project NEURO_7 is requested")
    assert erin.page.locator("#project-requests >> text=Waiting for a site administrator").count() == 1
    erin.shot("project-request")
    assert not Project.objects.exists()

    root = visit()
    root.sign_in("root")
    root.page.click("text=1 project request waiting")
    root.page.wait_for_selector("#pending-requests >> text=NEURO_7")
    root.shot("project-requests")
    root.page.click("#pending-requests >> button:has-text('Approve')")
    root.page.wait_for_selector("text=Project NEURO_7 created; erin is its owner.")
    assert Project.objects.get().created_by.username == "erin"

    erin.go("/projects/new/")
    assert erin.page.locator("#project-requests >> text=Approved").count() == 1
    erin.page.click("#project-requests >> text=NEURO_7")
    erin.page.wait_for_url("**/projects/NEURO_7/")
    assert erin.page.locator("text=Neuro seven").count() >= 1
    assert erin.only_local_requests() and root.only_local_requests()


def test_member_browses_and_edits_a_session(visit, archived):
    v = visit()
    v.sign_in("bob")
    v.go("/projects/A/")
    v.shot("project")
    v.page.click("table.listing >> text=SESS1")
    v.page.wait_for_selector("h2:has-text('Session SESS1')")
    v.page.select_option("#quality-1", "questionable")
    v.page.fill("#note-1", "motion in the last volumes")
    v.page.click("button:has-text('Save scans')")
    v.page.wait_for_selector("text=Scans saved.")
    scan = archived.scans.get(scan_id="1")
    assert (scan.quality, scan.note) == ("questionable", "motion in the last volumes")
    v.shot("session")
    with v.page.expect_download() as download:
        v.page.click("text=Download session (zip)")
    with zipfile.ZipFile(download.value.path()) as archive:
        assert sorted(archive.namelist())[0] == "SESS1/scans/1-T1/resources/DICOM/files/1-1.dcm"
        assert len(archive.namelist()) == 3
    v.page.check("#dl-2")
    with v.page.expect_download() as download:
        v.page.click("text=Download chosen scans (zip)")
    with zipfile.ZipFile(download.value.path()) as archive:
        assert archive.namelist() == ["SESS1/scans/2-T1/resources/DICOM/files/2-1.dcm"]
    v.page.click("table.scans >> a:text-is('2')")
    v.page.wait_for_selector("text=DICOM header of 2-1.dcm")
    assert v.page.locator("table.dicom-header >> text=(0008,0060)").count() == 1
    v.shot("scan")
    assert v.only_local_requests(), v.hosts


def test_the_header_search_finds_a_session_and_the_project_list_sorts(visit, archived):
    v = visit()
    v.sign_in("bob")
    v.page.fill("#site-search", "sess1")
    v.page.press("#site-search", "Enter")
    v.page.wait_for_selector("#found-sessions >> text=SESS1")
    v.shot("search")
    v.page.click("#found-sessions >> text=SESS1")
    v.page.wait_for_selector("h2:has-text('Session SESS1')")
    v.go("/projects/")
    assert v.page.locator("#project-table td.role").inner_text() == "Member"
    v.page.click("#project-table th >> text=Sessions")
    v.page.wait_for_selector("#project-table th[aria-sort=ascending] >> text=Sessions")
    v.shot("project-list")


def test_collaborator_sees_no_edit_controls(visit, archived):
    v = visit()
    v.sign_in("carol")
    v.go("/projects/A/sessions/SESS1/")
    assert v.page.locator("button:has-text('Save scans')").count() == 0
    assert v.page.locator("#quality-1").count() == 0
    assert v.page.locator("text=Edit session").count() == 0
    assert v.page.locator("text=Rename session").count() == 0
    assert v.page.locator("text=Upload files to a session resource").count() == 0
    assert v.page.locator("text=Delete session").count() == 0


def test_member_edits_but_sees_no_delete_controls(visit, archived):
    v = visit()
    v.sign_in("bob")
    v.go("/projects/A/sessions/SESS1/")
    assert v.page.locator("summary:has-text('Rename session')").count() == 1
    assert v.page.locator("text=Delete session").count() == 0
    v.go("/projects/A/sessions/SESS1/scans/1/")
    assert v.page.locator("text=Delete scan").count() == 0


def test_reading_pages_work_without_javascript(visit, archived, live_server):
    v = visit(java_script_enabled=False)
    v.sign_in("carol")
    for path, expected in [
        ("/projects/A/", "SESS1"),
        ("/projects/A/subjects/", "SUBJ1"),
        ("/projects/A/sessions/SESS1/", "Series description"),
        ("/projects/A/sessions/SESS1/scans/1/", "DICOM header of 1-1.dcm"),
    ]:
        response = v.go(path)
        assert response.status == 200
        assert expected in v.page.content(), path
    v.go("/projects/A/?sort=-label")
    assert v.page.locator("th[aria-sort=descending]").count() == 1


def test_owner_changes_settings(visit, archived):
    v = visit()
    v.sign_in("alice")
    v.go("/projects/A/settings/")
    v.page.check("input[name=accessibility][value=protected]")
    v.page.click("button:has-text('Save settings')")
    v.page.wait_for_selector("text=Settings of A saved.")
    assert Project.objects.get(pk="A").accessibility == "protected"
    v.shot("project-settings")
    v.go("/projects/A/users/")
    v.shot("project-users")
    v.go("/projects/A/anonymization/")
    v.shot("project-anonymization")


def test_small_screens_get_the_same_pages(visit, archived):
    v = visit(viewport={"width": 390, "height": 844})
    v.sign_in("bob")
    v.go("/projects/A/sessions/SESS1/")
    assert v.page.locator("h2:has-text('Session SESS1')").is_visible()
    v.shot("session-phone")


def test_history_reads_in_words_filters_and_no_page_is_wider_than_the_window(visit, archived, cast):
    """Issue 15: History was 1,715 px wide in a 1,400 px window, the session page 968 px on a 390 px
    phone. Long labels, paths and details wrap; the history says what happened in words."""
    from xnatlite import audit

    long = "1.2.826.0.1.3680043.8.498." + "1234567890" * 6
    audit.record(cast["alice"], "archive.session.relabelled", archived, old_label="X" * 64, path=long * 3)
    audit.record(cast["bob"], "archive.file.stored", archived, file="notes/" + "n" * 120 + ".txt", size=12)
    pages = [
        "/projects/A/history/",
        "/projects/A/sessions/SESS1/",
        "/projects/A/sessions/SESS1/scans/1/",
        "/projects/A/",
        "/projects/",
        "/projects/A/prearchive/",
        "/upload/?project=A",
        "/projects/A/users/",
    ]
    wide = {}
    for width, height in ((1400, 900), (390, 844)):
        v = visit(viewport={"width": width, "height": height})
        v.sign_in("alice")
        for path in pages:
            v.go(path)
            measured = v.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if measured[0] > measured[1]:
                wide[(width, path)] = measured[0]
        if width == 390:
            v.go("/projects/A/sessions/SESS1/")
            v.shot("session-phone")
    assert wide == {}
    v = visit(viewport={"width": 1400, "height": 900})
    v.sign_in("alice")
    v.go("/projects/A/history/")
    history = v.page.locator("table.history").inner_text()
    assert "Session renamed" in history and "File uploaded" in history and "archive.session" not in history
    v.page.select_option("#history-kind", "file")
    v.page.click("form[role=search] button:has-text('Show')")
    v.page.wait_for_selector("text=Clear")
    assert "Session renamed" not in v.page.locator("table.history").inner_text()
    v.page.select_option("#history-kind", "")
    v.page.select_option("#history-user", "alice")
    v.page.click("form[role=search] button:has-text('Show')")
    v.page.wait_for_url("**user=alice**")
    shown = v.page.locator("table.history").inner_text()
    assert "Session renamed" in shown and "File uploaded" not in shown
    v.shot("history")


def test_someone_elses_project_is_not_found_in_the_browser(visit, archived):
    make_project("D2", UserFactory(username="frank"))
    v = visit()
    v.sign_in("dave")
    assert v.go("/projects/A/").status == 404
    assert v.go("/projects/A/sessions/SESS1/").status == 404


def _study_zip(path: Path, padding: int = 0) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("MR_small.dcm", "CT_small.dcm"):
            archive.write(pydicom_test_file(name), f"study/{name}")
        if padding:  # stored, not deflated: makes the upload take long enough to watch its progress
            archive.writestr(zipfile.ZipInfo("study/padding.bin"), os.urandom(padding))
    return path


def test_upload_a_zip_with_progress_then_see_the_prearchive(
    visit, transactional_db, cast, project_a, tmp_path
):
    v = visit()
    v.sign_in("bob")
    v.page.click("nav[aria-label='Main'] >> text=Upload")
    v.page.select_option("#id_project", "A")
    v.page.fill("#id_subject", "SUBJ5")
    v.page.set_input_files("#id_files", str(_study_zip(tmp_path / "study.zip", padding=3 * 1024 * 1024)))
    v.page.wait_for_selector("#chosen:has-text('1 file(s)')")
    # A slow uplink (about 1.5 MB/s) so the bar moves through several values the test can see.
    cdp = v.context.new_cdp_session(v.page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 1_500_000}
    cdp.send("Network.emulateNetworkConditions", conditions)
    v.page.evaluate(
        "window.progressSeen = [];"
        "document.getElementById('upload-form').addEventListener('xnatlite:upload-progress',"
        " e => window.progressSeen.push(e.detail))"
    )
    v.page.click("#upload-button")
    v.page.wait_for_selector("#upload-status:has-text('Uploading')")
    v.shot("upload-progress")
    v.page.wait_for_selector("#upload-status:has-text('Done.')", timeout=60_000)
    seen = v.page.evaluate("window.progressSeen")
    assert len(set(seen)) >= 3 and seen == sorted(seen) and 0 < seen[0] < 50, seen
    assert v.page.eval_on_selector("#upload-progress", "bar => bar.value") == 100
    results = v.page.locator("#upload-results").inner_text()
    assert results.startswith("2 file(s) received into 2 prearchive session(s). 1 file(s) skipped"), results
    v.shot("upload")
    sessions = PrearchiveSession.objects.filter(project=project_a)
    assert sessions.count() == 2 and {s.subject_label for s in sessions} == {"SUBJ5"}
    v.page.click("#upload-results >> a >> nth=0")
    v.page.wait_for_selector("h2:has-text('Prearchive session')")
    v.go("/projects/A/prearchive/")
    assert v.page.locator("table.prearchive tbody tr").count() == 2
    v.shot("prearchive")
    assert v.only_local_requests(), v.hosts


def test_upload_a_folder(visit, transactional_db, cast, project_a, tmp_path):
    folder = tmp_path / "dicom"
    (folder / "series1").mkdir(parents=True)
    shutil.copy(pydicom_test_file("MR_small.dcm"), folder / "series1" / "IM0001")
    shutil.copy(pydicom_test_file("CT_small.dcm"), folder / "IM0002")
    (folder / "DICOMDIR.txt").write_text("not dicom")
    v = visit()
    v.sign_in("alice")
    v.go("/upload/?project=A")
    v.page.set_input_files("#id_folder", str(folder))
    v.page.wait_for_selector("text=3 file(s)")
    v.page.click("#upload-button")
    v.page.wait_for_selector("#upload-status:has-text('Done.')")
    assert "2 file(s) received" in v.page.locator("#upload-results").inner_text()
    assert "1 file(s) skipped" in v.page.locator("#upload-results").inner_text()
    assert PrearchiveFile.objects.filter(session__project=project_a).count() == 2


def test_an_upload_with_nothing_dicom_shows_failure_naming_the_files(
    visit, transactional_db, cast, project_a, tmp_path
):
    """Issue 15: a text file, an empty zip and a zip of junk each end in "Failed.", never a green "Done."."""
    (tmp_path / "notes.txt").write_text("not dicom")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    with zipfile.ZipFile(tmp_path / "junk.zip", "w") as archive:
        archive.writestr("junk/readme.txt", "hello")
    v = visit()
    v.sign_in("bob")
    for name, named in [
        ("notes.txt", "notes.txt"),
        ("empty.zip", "empty.zip"),
        ("junk.zip", "junk/readme.txt"),
    ]:
        v.go("/upload/?project=A")
        v.page.set_input_files("#id_files", str(tmp_path / name))
        v.page.wait_for_selector("#chosen:has-text('1 file(s)')")
        v.page.click("#upload-button")
        v.page.wait_for_selector("#upload-status:has-text('Failed.')")
        assert "Done." not in v.page.locator("#upload-status").inner_text()
        assert v.page.locator("#upload-results .ok-box").count() == 0
        assert named in v.page.locator("#upload-results .danger-box").inner_text()
    v.shot("upload-failed")
    assert not PrearchiveSession.objects.exists()


def test_the_upload_page_says_how_to_send_data_to_the_chosen_project(
    visit, transactional_db, cast, project_a
):
    make_project("B", cast["alice"])
    v = visit(viewport={"width": 390, "height": 844})
    v.sign_in("alice")
    v.go("/upload/?project=A")
    v.page.click("#how-to-send summary")
    command = v.page.locator("#how-to-send pre.command")
    assert command.inner_text().endswith("--user alice --project A")
    v.page.select_option("#id_project", "B")
    assert command.inner_text().endswith("--project B")
    assert "Project: B" in v.page.locator("#how-to-send").inner_text()
    assert v.page.locator("#how-to-send summary").inner_text() == "How to send data to B"
    v.shot("how-to-send")
    assert v.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_upload_cut_off_between_batches_is_held_and_sending_it_again_completes_it(
    visit, transactional_db, cast, project_a, tmp_path
):
    """Issue 16: the page sends a folder in batches; when a later batch never arrives (the connection
    fails, the browser closes), what the first batches brought is held as an unfinished upload, never
    built as READY by the idle builder. Uploading the same folder again completes the same session."""
    from datetime import timedelta

    from django.utils import timezone

    from prearchive import sweep

    write_study(make_study(n_instances=60, patient_id="P60"), tmp_path / "study")  # two batches of the page
    v = visit()
    v.sign_in("bob")
    v.go("/upload/?project=A")
    v.page.set_input_files("#id_folder", str(tmp_path / "study"))
    v.page.wait_for_selector("text=60 file(s)")
    posts = []

    def second_batch_fails(route):
        posts.append(route.request.url)
        route.abort() if len(posts) == 2 else route.continue_()

    v.page.route(
        "**/upload/",
        lambda route: second_batch_fails(route) if route.request.method == "POST" else route.continue_(),
    )
    v.page.click("#upload-button")
    v.page.wait_for_selector("#upload-status:has-text('Stopped.')")
    results = v.page.locator("#upload-results").inner_text()
    assert "The connection failed" in results and "unfinished upload" in results, results
    session = PrearchiveSession.objects.get(project=project_a)
    assert (session.status, session.file_count) == (Status.RECEIVING, 50) and session.open_upload
    sweep.build_idle_sessions(timezone.now() + timedelta(days=1))
    session.refresh_from_db()
    assert session.status == Status.RECEIVING  # held: 50 of 60 files is not a session
    v.go(f"/prearchive/A/{session.timestamp}/{session.folder_name}/")
    assert "Upload not finished" in v.page.locator("#unfinished-upload").inner_text()

    v.page.unroute("**/upload/")
    v.go("/upload/?project=A")
    v.page.set_input_files("#id_folder", str(tmp_path / "study"))
    v.page.wait_for_selector("text=60 file(s)")
    v.page.click("#upload-button")
    v.page.wait_for_selector("#upload-status:has-text('Done.')", timeout=60_000)
    session = PrearchiveSession.objects.get(project=project_a)
    assert (session.status, session.file_count, session.open_upload) == (Status.READY, 60, "")
    assert PrearchiveFile.objects.filter(session=session).count() == 60


def test_prearchive_list_refreshes_itself_while_receiving(visit, transactional_db, cast, project_a):
    session = ingest_file(
        pydicom_test_file("MR_small.dcm"), IngestContext(source="test", project="A")
    ).session
    v = visit()
    v.sign_in("bob")
    v.go("/projects/A/prearchive/")
    assert v.page.locator("#prearchive-rows .status").inner_text() == "RECEIVING"
    assert change_status(session, Status.BUILDING) and change_status(session, Status.READY)
    v.page.wait_for_selector("#prearchive-rows .status:text-is('READY')", timeout=10_000)
    assert v.page.locator("#prearchive-rows").get_attribute("data-refresh") == "idle"


def test_an_empty_prearchive_shows_a_session_arriving_without_a_reload(
    visit, transactional_db, cast, project_a
):
    """Issue 15: nothing busy, nothing listed; a session that arrives appears by itself."""
    v = visit()
    v.sign_in("bob")
    v.go("/projects/A/prearchive/")
    assert "Nothing is waiting" in v.page.locator("#prearchive-rows").inner_text()
    v.page.evaluate("window.notReloaded = true")
    ingest_file(pydicom_test_file("MR_small.dcm"), IngestContext(source="test", project="A"))
    v.page.wait_for_selector("#prearchive-rows .status:text-is('RECEIVING')", timeout=20_000)
    assert v.page.evaluate("window.notReloaded") is True


def test_removing_a_user_and_the_bulk_archive_ask_first(visit, transactional_db, cast, project_a):
    """Issue 15: a dismissed question changes nothing; an accepted one goes ahead."""
    from xnatlite import permissions

    session = ingest_file(
        pydicom_test_file("MR_small.dcm"), IngestContext(source="test", project="A")
    ).session
    assert change_status(session, Status.BUILDING) and change_status(session, Status.READY)
    v = visit()
    v.sign_in("alice")
    questions: list[str] = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    v.go("/projects/A/prearchive/")
    v.page.once("dialog", lambda d: answer(d, accept=False))
    v.page.check(f"#pick-{session.pk}")
    v.page.click("#bulk-form button[value=archive]")
    assert questions and questions[-1].startswith("Archive the chosen sessions")
    session.refresh_from_db()
    assert session.status == Status.READY and not ImageSession.objects.exists()

    v.go("/projects/A/users/")
    v.page.once("dialog", lambda d: answer(d, accept=False))
    v.page.click("tr:has-text('bob') button:has-text('Remove')")
    assert questions[-1] == "Remove bob from A? They lose their role and their access to its data."
    assert permissions.role_of(cast["bob"], project_a) is not None
    v.page.once("dialog", lambda d: answer(d, accept=True))
    v.page.click("tr:has-text('bob') button:has-text('Remove')")
    v.page.wait_for_selector("text=bob no longer has a role in A")
    assert permissions.role_of(cast["bob"], project_a) is None


def test_whole_day_create_upload_review_archive_preview_download(visit, transactional_db, tmp_path, settings):
    """The issue's walk: sign in, create a project, upload a zip (progress), Review and Archive with
    new labels, see the previews, download the session zip and check what is in it."""
    settings.PROJECT_CREATION = "everyone"
    UserFactory(username="erin")
    v = visit()
    v.sign_in("erin")
    v.create_project("STUDY", "A study")

    v.page.click("nav[aria-label='Main'] >> text=Upload")
    v.page.select_option("#id_project", "STUDY")
    v.page.set_input_files("#id_files", str(_study_zip(tmp_path / "study.zip")))
    v.page.click("#upload-button")
    v.page.wait_for_selector("#upload-status:has-text('Done.')")
    assert v.page.eval_on_selector("#upload-progress", "bar => bar.value") == 100
    results = v.page.locator("#upload-results")
    assert results.locator(".status:text-is('READY')").count() == 2  # committed at the end of the upload

    v.page.click("#upload-results >> a:text-is('4MR1')")  # routed from Patient ID (xnat-spec.md §5.4)
    v.page.wait_for_selector("h2:has-text('Prearchive session 4MR1')")
    v.page.click("text=Review and Archive")
    v.page.wait_for_selector("table.kept")
    assert "CompressedSamples^MR1" in v.page.locator("table.kept").inner_text()
    v.page.fill("#id_subject", "P001")
    v.page.fill("#id_label", "P001_MR1")
    v.page.click("button:has-text('Check again')")
    v.page.wait_for_selector("table.validation >> text=Subject 'P001' will be created in STUDY")
    v.shot("review")
    v.page.click("button[name=archive]")
    v.page.wait_for_selector("h2:has-text('Session P001_MR1')")
    assert v.page.locator("text=P001_MR1 is archived in project STUDY").count() == 1

    preview = v.page.locator("img[alt='Preview of scan 1']")
    preview.wait_for()
    v.page.wait_for_function(
        "() => { const i = document.querySelector(\"img[alt='Preview of scan 1']\"); return i && i.complete && i.naturalWidth > 0; }"
    )
    v.shot("session-archived")

    with v.page.expect_download() as download:
        v.page.click("text=Download session (zip)")
    with zipfile.ZipFile(download.value.path()) as archive:
        dicom = [n for n in archive.namelist() if "/resources/DICOM/files/" in n and n.endswith(".dcm")]
        assert dicom and all(n.startswith("P001_MR1/scans/1-") for n in dicom)
        assert any("/resources/SNAPSHOTS/files/" in n for n in archive.namelist())
        ds = pydicom.dcmread(io.BytesIO(archive.read(dicom[0])))
    assert (str(ds.PatientName), ds.PatientID) == ("P001", "P001_MR1")
    archived = ImageSession.objects.get(project_id="STUDY", label="P001_MR1")
    assert archived.subject.label == "P001"
    assert PrearchiveSession.objects.filter(project_id="STUDY").count() == 1  # the CT one still waits
    assert v.only_local_requests(), v.hosts


def test_archiving_by_a_worker_is_followed_by_the_page(visit, celery_worker, cast, project_a):
    """With a broker, archiving happens in a Celery worker: the prearchive page refreshes itself while
    the session is queued and archived, then says it is gone and links to the project."""
    if celery_worker is None:
        pytest.skip("needs a broker (CELERY_BROKER_URL): without one archiving runs in the request")
    session = ingest_file(
        pydicom_test_file("MR_small.dcm"),
        IngestContext(source="test", project="A", subject="S1", session="E1"),
    ).session
    operations.rebuild_session(session, by=cast["bob"])
    v = visit()
    v.sign_in("bob")
    v.go(f"/prearchive/A/{session.timestamp}/{session.folder_name}/")
    v.page.click("button:has-text('Archive as it is')")
    v.page.wait_for_selector("text=is queued for archiving")
    assert v.page.locator("#prearchive-session").get_attribute("data-refresh") == "busy"
    v.page.wait_for_selector("text=This session is no longer in the prearchive", timeout=60_000)
    v.page.click("text=Go to the project's sessions")
    v.page.wait_for_selector("table.listing >> text=E1")
    assert ImageSession.objects.filter(project=project_a, label="E1").exists()


# --- relabelling, resource files, deleting with confirmation, the site script --------------------------
def test_owner_relabels_uploads_resource_files_and_deletes_after_confirming(visit, archived, tmp_path):
    v = visit()
    v.sign_in("alice")
    v.go("/projects/A/sessions/SESS1/")

    # Relabel: a bad label is refused next to the field, a good one renames the folder.
    v.page.click("summary:has-text('Rename session')")
    v.page.fill("#id_label", "bad label")
    v.page.click("button:has-text('Rename session')")
    v.page.wait_for_selector("#label-errors:has-text('may only contain letters, digits, _ and -')")
    assert v.page.get_attribute("#id_label", "aria-invalid") == "true"
    v.shot("relabel-error")
    v.page.fill("#id_label", "SESS1_B")
    v.page.click("button:has-text('Rename session')")
    v.page.wait_for_selector(
        "text=Session SESS1 is now SESS1_B; its folder was renamed and its DICOM files carry the new label."
    )
    assert v.page.locator("h2:has-text('Session SESS1_B')").count() == 1
    archived.refresh_from_db()
    assert archived.label == "SESS1_B" and layout.archive_session_dir("A", "SESS1_B").is_dir()
    assert not layout.archive_session_dir("A", "SESS1").exists()

    # Resource files: two files into a new NOTES resource, listed with their MD5, downloaded back.
    notes = tmp_path / "notes.txt"
    notes.write_text("scanner note\n")
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    v.page.click("summary:has-text('Upload files to a session resource')")
    v.page.fill("#id_upload-resource", "NOTES")
    v.page.set_input_files("#upload-files", [str(notes), str(report)])
    v.page.click("button:has-text('Upload files')")
    v.page.wait_for_selector("text=2 files stored in resource NOTES: notes.txt, report.csv")
    md5 = hashlib.md5(notes.read_bytes()).hexdigest()
    assert v.page.locator(f"table.files >> text={md5}").count() == 1
    v.shot("session-resources")
    with v.page.expect_download() as download:
        v.page.click("table.files tr:has-text('notes.txt') >> text=download")
    assert Path(download.value.path()).read_bytes() == notes.read_bytes()

    # Delete one file: a confirmation page first, then the session page says what went.
    v.page.click("a[aria-label='Delete notes.txt']")
    v.page.wait_for_selector("h2:has-text('Delete file notes.txt of resource NOTES?')")
    assert File.objects.filter(name="notes.txt").exists()  # nothing deleted by asking
    v.page.click("button:has-text('Delete file notes.txt')")
    v.page.wait_for_selector("text=File notes.txt of resource NOTES deleted")
    assert not File.objects.filter(name="notes.txt").exists()

    # Delete a scan with its files.
    v.go("/projects/A/sessions/SESS1_B/scans/1/")
    v.page.click("text=Delete scan")
    v.page.wait_for_selector("text=This deletes 2 files")
    v.shot("delete-confirm")
    v.page.click("button:has-text('Delete scan 1 of session SESS1_B')")
    v.page.wait_for_selector("text=Scan 1 of session SESS1_B deleted: 2 files")
    assert list(archived.scans.values_list("scan_id", flat=True)) == ["2"]
    assert not layout.archive_scan_dir("A", "SESS1_B", "1").exists()
    v.shot("session-after-delete")

    # A new subject by hand from the subjects page.
    v.go("/projects/A/subjects/")
    v.page.click("text=New subject")
    v.page.fill("#id_label", "P100")
    v.page.select_option("#id_gender", "female")
    v.page.click("button:has-text('Create subject')")
    v.page.wait_for_selector("h2:has-text('Subject P100')")
    assert archived.project.subjects.get(label="P100").gender == "female"
    assert v.only_local_requests(), v.hosts


def test_owner_deletes_a_project_after_seeing_what_goes(visit, archived):
    folder = layout.archive_project_dir("A")
    assert folder.is_dir()
    v = visit()
    v.sign_in("alice")
    v.go("/projects/A/settings/")
    v.page.click("text=Delete this project")
    contents = v.page.locator("#project-contents").inner_text()
    assert "1 subject" in contents and "1 session with 2 scans" in contents and "3 archived files" in contents
    v.shot("project-delete")
    v.page.click("button:has-text('Delete project A')")
    v.page.wait_for_selector("text=Project A deleted")
    assert not Project.objects.filter(pk="A").exists() and not folder.exists()


def test_site_admin_edits_the_site_script(visit, transactional_db, cast):
    v = visit()
    v.sign_in("root")
    v.page.click("nav[aria-label='Main'] >> text=Site script")
    v.page.wait_for_selector("h1:has-text('Site anonymization script')")
    v.page.fill("#id_text", 'version "6.3"\n(0008,1030) := \n')
    v.page.click("button:has-text('Save script')")
    v.page.wait_for_selector(".errorlist:has-text('line 2')")
    v.page.fill("#id_text", 'version "6.3"\n(0008,1030) := "Study"\n')
    v.page.click("button:has-text('Save script')")
    v.page.wait_for_selector("text=Site anonymization script saved as version 1.")
    v.shot("site-script")
    assert anonymize_services.get_site_script().text == 'version "6.3"\n(0008,1030) := "Study"\n'
    cache.forget_all()


# --- drag and drop on the upload page --------------------------------------------------------------
def _drag_files_onto(v: Visit, selector: str, paths: list[Path]) -> None:
    """Drop files or folders from disk onto an element as the operating system does (Chromium's
    Input.dispatchDragEvent): the page gets real DataTransfer items with FileSystemEntry objects."""
    box = v.page.locator(selector).bounding_box()
    x, y = box["x"] + 12, box["y"] + 12
    cdp = v.context.new_cdp_session(v.page)
    data = {"items": [], "files": [str(p) for p in paths], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})


def test_drop_a_folder_of_dicom_files_on_the_upload_page(visit, transactional_db, cast, project_a, tmp_path):
    folder = tmp_path / "export"
    (folder / "series1" / "deeper").mkdir(parents=True)
    shutil.copy(pydicom_test_file("MR_small.dcm"), folder / "series1" / "IM0001")
    shutil.copy(pydicom_test_file("CT_small.dcm"), folder / "series1" / "deeper" / "IM0002")
    (folder / "README.txt").write_text("not dicom")
    v = visit()
    v.sign_in("bob")
    v.go("/upload/?project=A")
    v.page.fill("#id_subject", "DROPPED")
    _drag_files_onto(v, "#dropzone", [folder])
    v.page.wait_for_selector("#chosen:has-text('3 file(s)')")  # the folder was walked, subfolders too
    assert v.page.is_visible("#clear-chosen")
    v.shot("upload-dropped")
    v.page.click("#upload-button")
    v.page.wait_for_selector("#upload-status:has-text('Done.')")
    results = v.page.locator("#upload-results").inner_text()
    assert "2 file(s) received into 2 prearchive session(s)" in results and "1 file(s) skipped" in results
    sessions = PrearchiveSession.objects.filter(project=project_a)
    assert {s.subject_label for s in sessions} == {"DROPPED"}
    assert PrearchiveFile.objects.filter(session__project=project_a).count() == 2
    assert v.page.locator("#chosen").inner_text() == ""  # cleared once uploaded
    assert v.only_local_requests(), v.hosts


def test_drop_a_zip_and_loose_files_without_entries(visit, transactional_db, cast, project_a, tmp_path):
    """A zip dropped from disk, then files dropped by a source that gives no FileSystemEntry (a
    DataTransfer built by script: webkitGetAsEntry() answers null): both count and upload."""
    v = visit()
    v.sign_in("alice")
    v.go("/upload/?project=A")
    _drag_files_onto(v, "#dropzone", [_study_zip(tmp_path / "study.zip")])
    v.page.wait_for_selector("#chosen:has-text('1 file(s)')")
    v.page.set_input_files("#id_files", str(pydicom_test_file("rtdose.dcm")))
    v.page.evaluate(
        """() => {
        const input = document.getElementById('id_files'), dt = new DataTransfer();
        for (const file of input.files) dt.items.add(file);
        input.value = '';
        document.getElementById('dropzone').dispatchEvent(
            new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }"""
    )
    v.page.wait_for_selector("#chosen:has-text('2 file(s)')")
    v.page.click("#clear-chosen")  # changed one's mind: nothing is chosen any more
    assert v.page.locator("#chosen").inner_text() == "" and not v.page.is_visible("#clear-chosen")
    _drag_files_onto(v, "#dropzone", [_study_zip(tmp_path / "study.zip")])
    v.page.wait_for_selector("#chosen:has-text('1 file(s)')")
    v.page.set_input_files("#id_files", str(pydicom_test_file("rtdose.dcm")))
    v.page.wait_for_selector("#chosen:has-text('2 file(s)')")
    v.page.click("#upload-button")
    v.page.wait_for_selector("#upload-status:has-text('Done.')")
    assert "3 file(s) received" in v.page.locator("#upload-results").inner_text()
    assert PrearchiveFile.objects.filter(session__project=project_a).count() == 3


def test_archiving_labels_that_look_like_a_name_or_an_mrn_asks_to_confirm(
    visit, transactional_db, cast, project_a, tmp_path
):
    """Issue 15: "Archive as it is" stops at a confirm page naming the labels; Review and Archive archives
    them only with its box ticked. Both end archived, the confirmation audited."""

    def flagged(name: str, patient_name: str, patient_id: str) -> PrearchiveSession:
        ds = pydicom.dcmread(pydicom_test_file(name))
        ds.PatientName, ds.PatientID = patient_name, patient_id
        ds.save_as(tmp_path / name)
        session = ingest_file(tmp_path / name, IngestContext(source="test", project="A")).session
        return operations.rebuild_session(session, by=cast["bob"])

    first = flagged("MR_small.dcm", "LOE^LISA", "MRN0044444")
    second = flagged("CT_small.dcm", "ROE^RICK", "MRN0055555")
    v = visit()
    v.sign_in("bob")
    v.go(f"/prearchive/A/{first.timestamp}/{first.folder_name}/")
    v.page.click("button:has-text('Archive as it is')")
    v.page.wait_for_selector("#confirm-identifiers")
    text = v.page.locator("#confirm-identifiers").inner_text()
    assert "the subject label 'LOE_LISA' looks like a person's name" in text
    assert "the session label 'MRN0044444' looks like a medical record number" in text
    assert not ImageSession.objects.exists()
    v.shot("confirm-identifiers")
    v.page.click("#confirm-archive")
    v.page.wait_for_selector("h2:has-text('Session MRN0044444')")
    assert ImageSession.objects.get(label="MRN0044444").subject.label == "LOE_LISA"

    v.go(f"/prearchive/A/{second.timestamp}/{second.folder_name}/review/")
    v.page.wait_for_selector("#id_confirm_identifiers")
    v.page.click("button[name=archive]")  # without the box: refused, said next to it
    v.page.wait_for_selector("#confirm-identifiers >> text=tick this box to confirm them")
    assert not ImageSession.objects.filter(label="MRN0055555").exists()
    v.page.check("#id_confirm_identifiers")
    v.page.click("button[name=archive]")
    v.page.wait_for_selector("h2:has-text('Session MRN0055555')")
    assert ImageSession.objects.get(label="MRN0055555").subject.label == "ROE_RICK"
    assert v.only_local_requests(), v.hosts
