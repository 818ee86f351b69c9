"""Issue 14, the probe suite: text that users and DICOM headers put into the archive is shown as text on
every page, never as markup. Script-shaped values go into every free-text field a person or a header
can fill (project title and description, series descriptions, patient comments, a resource's label
and description); an owner's browser then walks every page it can reach on a live server, and no page may
carry the markup unescaped."""

from __future__ import annotations

import io
import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest

from archive.services import resources as resource_services
from prearchive import handoff
from tests.dicomgen import make_study
from tests.security.conftest import BOUND, browser_sign_in
from tests.sessions import ingest_study, make_ready

pytestmark = pytest.mark.e2e

PAYLOAD = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
UNESCAPED = ("<script>alert(1)", "<img src=x onerror")
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
HREF = re.compile(r'href="([^"#]+)')
SKIP = ("logout", "/download", ".zip", "/files/", "/admin/", "/static/", "format=", "/data/")
PAGES = 400  # a bound on the walk: the site this test makes has far fewer pages


def fill_the_archive(project, owner) -> None:
    project.name = project.description = PAYLOAD[:60]
    project.save()
    fields = {"study_description": "A", "series_description": PAYLOAD[:64], "patient_comments": PAYLOAD}
    archived = make_ready(ingest_study(make_study(n_series=2, n_instances=2, patient_id="XSS1", **fields)))
    handoff.queue_archive(archived, by=owner, subject="XSS", label="XSS1")
    make_ready(ingest_study(make_study(n_series=1, n_instances=1, patient_id="XSS2", **fields)))  # stays
    from archive.models import ImageSession

    session = ImageSession.objects.get(label="XSS1")
    notes = resource_services.create_resource(
        session, "NOTES", by=owner, description=PAYLOAD, content=PAYLOAD[:60], tags=PAYLOAD[:60]
    )
    resource_services.store_file(notes, "notes.txt", io.BytesIO(b"text"), by=owner)


def test_no_page_shows_stored_markup(live, project_a, alice):
    fill_the_archive(project_a, alice)
    server = live()
    browser = browser_sign_in(server.url, "alice")
    origin = urlsplit(server.url)
    seen, todo, escaped = set(), deque([server.url]), 0
    while todo and len(seen) < PAGES:
        url = todo.popleft()
        if url in seen:
            continue
        seen.add(url)
        answer = browser.get(url, timeout=BOUND)
        if "text/html" not in answer.headers.get("Content-Type", ""):
            continue
        page = answer.text
        for marker in UNESCAPED:
            assert marker not in page, f"{url} shows stored markup unescaped"
        escaped += page.count(ESCAPED)
        for href in HREF.findall(page):
            target = urljoin(url, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc == origin.netloc and not any(s in target for s in SKIP) and target not in seen:
                todo.append(target)
    assert len(seen) < PAGES, "the walk did not end within its bound"
    assert len(seen) > 20, f"only {len(seen)} pages reached: the walk did not get into the archive"
    assert escaped >= 3, "the stored values were not reached (or not shown at all)"
