"""The site anonymization script page: site admins view, save (validated), switch off, see and load
versions, and dry-run it on an instance of any project or Unassigned; nobody else may."""

import pytest
from django.urls import reverse

from anonymize import services
from anonymize.defaults import default_site_script_text
from anonymize.models import ScriptVersion, SiteScript
from archive.models import File
from prearchive.ingest import IngestContext, ingest_file
from tests.dicomgen import pydicom_test_file
from xnatlite import cache
from xnatlite.models import AuditEvent

URL = reverse("site-script")
SCRIPT = 'version "6.3"\n(0008,1030) := format["{0} {1} {2}", project, subject, session]\n'


@pytest.fixture(autouse=True)
def forget_site_script():
    """Ingest keeps the site script for a couple of seconds; a script saved here (then rolled back)
    must not reach the next test's ingest."""
    yield
    cache.forget_all()


def save(client, text=SCRIPT, **fields):
    return client.post(URL, {"text": text, "save": "1", **fields})


def test_admin_sees_the_shipped_default(as_user, root):
    response = as_user(root).get(URL)
    assert response.status_code == 200
    assert response.context["form"]["text"].value() == default_site_script_text()
    html = response.content.decode()
    assert "shipped default script" in html and "Run this script on every instance as it arrives" in html


def test_admin_saves_switches_off_and_sees_versions(as_user, root):
    client = as_user(root)
    response = save(client, enabled="on", deidentifying="on")
    assert response.status_code == 302 and response["Location"] == URL
    state = services.get_site_script()
    assert (state.text, state.enabled, state.deidentifying, state.version) == (SCRIPT, True, True, 1)
    event = AuditEvent.objects.get(action="anonymize.site_script.saved")
    assert event.actor == root and event.details["version"] == 1
    assert event.details["previous_text"] == default_site_script_text()

    assert save(client).status_code == 302  # the checkbox left empty: switched off
    assert services.get_site_script().enabled is False and services.site_script_for_ingest() is None
    page = client.get(URL)
    html = page.content.decode()
    assert "Version 2" in html and "It is switched off." in html
    assert [v.version for v in page.context["versions"]] == [2, 1]
    assert "Site anonymization script saved as version 2." in html


def test_a_version_loads_into_the_editor_without_being_saved(as_user, root):
    client = as_user(root)
    save(client, enabled="on")
    save(client, text='version "6.3"\n(0010,0010) := "X"\n', enabled="on")
    response = client.get(URL, {"version": 1})
    assert response.context["form"]["text"].value() == SCRIPT
    assert "Version 1 (saved" in response.content.decode()
    assert services.get_site_script().version == 2  # loading is not saving
    assert client.get(URL, {"version": 99}).context["loaded"] is None


def test_a_script_that_does_not_parse_is_refused_with_line_and_column(as_user, root):
    response = save(as_user(root), text='version "6.3"\n(0008,1030) := \n(0010,0010 := "x"\n', enabled="on")
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["text"])
    assert "line" in errors and "column" in errors
    assert not SiteScript.objects.exists() and not ScriptVersion.objects.exists()
    assert not AuditEvent.objects.filter(action="anonymize.site_script.saved").exists()


def test_dry_run_on_an_unassigned_prearchive_instance_with_its_routed_labels(as_user, root):
    pre = ingest_file(pydicom_test_file("CT_small.dcm"), IngestContext(source="test")).session
    assert pre.project_id is None
    page = as_user(root).get(URL)
    assert f'value="p:{pre.pk}"' in page.content.decode()
    response = as_user(root).post(URL, {"text": SCRIPT, "session": f"p:{pre.pk}", "dry_run": "1"})
    changes = {c.keyword: c for c in response.context["changes"]}
    expected = f"Unassigned {pre.subject_label} {pre.label}"
    assert changes["StudyDescription"].after == expected and expected in response.content.decode()
    assert services.get_site_script().is_default  # a dry run saves nothing


def test_dry_run_on_an_archived_instance_of_any_project(as_user, session_a, root):
    file = File.objects.get(name="2-1.dcm")
    before = file.absolute_path.read_bytes()
    response = as_user(root).post(
        URL, {"text": SCRIPT, "session": f"a:{session_a.pk}", "scan": "2", "dry_run": "1"}
    )
    changes = {c.keyword: c for c in response.context["changes"]}
    assert changes["StudyDescription"].after == "A SUBJ1 SESS1"
    assert response.context["instance"].name == "2-1.dcm"
    assert file.absolute_path.read_bytes() == before  # nothing written


def test_dry_run_of_a_bad_script_names_the_error(as_user, session_a, root):
    response = as_user(root).post(
        URL, {"text": "(0008,1030 := x", "session": f"a:{session_a.pk}", "dry_run": "1"}
    )
    assert response.context["changes"] is None
    assert "line 1" in response.content.decode()


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "dave"])
def test_only_site_admins_may_open_or_save_it(as_user, cast, who):
    client = as_user(cast[who])
    assert client.get(URL).status_code == 403
    assert save(client, enabled="on").status_code == 403
    assert client.post(URL, {"text": SCRIPT, "session": "a:1", "dry_run": "1"}).status_code == 403
    assert services.get_site_script().is_default
    assert reverse("site-script") not in client.get(reverse("project-list")).content.decode()


def test_nobody_signed_in_is_sent_to_sign_in(client, db):
    response = save(client, enabled="on")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert services.get_site_script().is_default


def test_admins_find_it_in_the_menu_and_from_a_project_script(as_user, project_a, root):
    client = as_user(root)
    assert f'href="{URL}"' in client.get(reverse("project-list")).content.decode()
    assert f'href="{URL}"' in client.get(reverse("project-script", args=["A"])).content.decode()


def test_a_textareas_crlf_line_ends_are_stored_as_lf(as_user, root):
    save(as_user(root), text=SCRIPT.replace("\n", "\r\n"), enabled="on")
    assert services.get_site_script().text == SCRIPT
