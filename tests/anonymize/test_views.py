"""The project anonymization script page: owners save (validated) and dry-run; nobody else may."""

import pytest
from django.urls import reverse

from anonymize import services
from anonymize.defaults import default_project_script_text
from archive.models import File
from xnatlite.models import AuditEvent

URL = reverse("project-script", args=["A"])
SCRIPT = 'version "6.3"\n(0008,1030) := format["Study of {0}", project]\n'


def test_owner_sees_the_default_script(as_user, project_a, alice):
    response = as_user(alice).get(URL)
    assert response.status_code == 200
    assert response.context["form"]["text"].value() == default_project_script_text()
    assert "shipped default script" in response.content.decode()


def test_owner_saves_a_script_and_a_version_is_kept(as_user, project_a, alice):
    client = as_user(alice)
    response = client.post(URL, {"text": SCRIPT, "enabled": "on", "save": "1"})
    assert response.status_code == 302
    state = services.get_project_script(project_a)
    assert (state.text, state.enabled, state.version) == (SCRIPT, True, 1)
    assert AuditEvent.objects.filter(action="anonymize.project_script.saved", actor=alice).exists()
    page = client.get(URL)
    assert "Version 1" in page.content.decode()
    assert [v.version for v in page.context["versions"]] == [1]


def test_a_script_that_does_not_parse_is_refused_with_line_and_column(as_user, project_a, alice):
    bad = 'version "6.3"\n(0008,1030) := \n(0010,0010 := "x"\n'
    response = as_user(alice).post(URL, {"text": bad, "enabled": "on", "save": "1"})
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["text"])
    assert "line" in errors and "column" in errors
    assert services.get_project_script(project_a).is_default  # nothing stored
    assert not AuditEvent.objects.filter(action="anonymize.project_script.saved").exists()


def test_dry_run_of_an_unsaved_edit_on_an_archived_instance(as_user, session_a, alice):
    response = as_user(alice).post(
        URL, {"text": SCRIPT, "enabled": "on", "session": f"a:{session_a.pk}", "scan": "2", "dry_run": "1"}
    )
    assert response.status_code == 200
    changes = {c.keyword: c for c in response.context["changes"]}
    assert changes["StudyDescription"].after == "Study of A"
    assert response.context["instance"].name == "2-1.dcm"
    assert "Study of A" in response.content.decode()
    assert services.get_project_script(session_a.project).is_default  # a dry run saves nothing
    file = File.objects.get(name="2-1.dcm")
    assert b"Study of A" not in file.absolute_path.read_bytes()  # and writes nothing


def test_dry_run_names_a_missing_scan(as_user, session_a, alice):
    response = as_user(alice).post(
        URL, {"text": SCRIPT, "session": f"a:{session_a.pk}", "scan": "77", "dry_run": "1"}
    )
    assert "No scan &#x27;77&#x27;" in response.content.decode()
    assert response.context["changes"] is None


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_members_and_collaborators_cannot_see_or_save_the_script(as_user, project_a, cast, who):
    client = as_user(cast[who])
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"text": SCRIPT, "enabled": "on", "save": "1"}).status_code == 403
    assert services.get_project_script(project_a).is_default


def test_stranger_gets_404(as_user, project_a, dave):
    client = as_user(dave)
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"text": SCRIPT, "save": "1"}).status_code == 404
    assert services.get_project_script(project_a).is_default


def test_dry_run_on_a_prearchive_session_uses_its_labels(as_user, project_a, alice):
    from prearchive.ingest import IngestContext, ingest_file
    from tests.dicomgen import pydicom_test_file

    pre = ingest_file(
        pydicom_test_file("CT_small.dcm"),
        IngestContext(source="test", project="A", subject="S7", session="E7"),
    ).session
    page = as_user(alice).get(URL)
    assert f'value="p:{pre.pk}"' in page.content.decode()
    script = 'version "6.3"\n(0010,0010) := subject\n(0010,0020) := session\n'
    response = as_user(alice).post(URL, {"text": script, "session": f"p:{pre.pk}", "dry_run": "1"})
    changes = {c.keyword: c for c in response.context["changes"]}
    assert (changes["PatientName"].after, changes["PatientID"].after) == ("S7", "E7")
    assert response.context["instance"].where == "prearchive"


def test_dry_run_refuses_a_session_of_another_project(as_user, project_a, project_d, alice, dave):
    from prearchive.ingest import IngestContext, ingest_file
    from tests.dicomgen import pydicom_test_file

    theirs = ingest_file(
        pydicom_test_file("CT_small.dcm"), IngestContext(source="test", project="D", user=dave)
    )
    response = as_user(alice).post(URL, {"text": SCRIPT, "session": f"p:{theirs.session.pk}", "dry_run": "1"})
    assert response.context["changes"] is None
    assert "not one of the available choices" in response.content.decode()


def test_dry_run_shows_dates_before_and_after_with_the_subjects_shift(as_user, session_a, alice):
    import datetime

    from anonymize.models import SubjectDateShift

    script = 'version "6.3"\nshiftSubjectDates["(0008,0020)", "(0008,0030)"]\n'
    script += '(0008,1030) := lookup["study", (0008,1030)]\n'
    table = "# from the study register\nstudy/e+1 = Study ONE\n"
    response = as_user(alice).post(
        URL,
        {"text": script, "lookup_table": table, "session": f"a:{session_a.pk}", "scan": "2", "dry_run": "1"},
    )
    assert response.status_code == 200, response.context["dry_form"].errors
    shift = SubjectDateShift.objects.get(project=session_a.project, subject="SUBJ1").days
    dates = {d.keyword: d for d in response.context["dates"]}
    expected = datetime.date(2004, 1, 19) + datetime.timedelta(days=shift)
    assert (dates["StudyDate"].before, dates["StudyDate"].after) == ("20040119", expected.strftime("%Y%m%d"))
    assert dates["StudyTime"].before == dates["StudyTime"].after  # whole days: the time stays
    assert dates["ContentDate"].before == dates["ContentDate"].after == "19970430"  # not named: unchanged
    changes = {c.keyword: c for c in response.context["changes"]}
    assert changes["StudyDescription"].after == "Study ONE"  # the box's lookup table, unsaved
    page = response.content.decode()
    assert 'id="dates-table"' in page and expected.strftime("%Y%m%d") in page
    assert services.get_project_script(session_a.project).lookup_table == ""  # nothing saved


def test_the_lookup_table_is_saved_with_the_script_and_a_bad_line_is_refused(as_user, project_a, alice):
    client = as_user(alice)
    bad = client.post(URL, {"text": SCRIPT, "lookup_table": "pid MRN1 = S1", "enabled": "on", "save": "1"})
    assert bad.status_code == 200
    assert "lookup table, line 1: expected category/key = value" in bad.content.decode()
    good = client.post(
        URL, {"text": SCRIPT, "lookup_table": "pid/MRN1 = S1\r\n", "enabled": "on", "save": "1"}
    )
    assert good.status_code == 302
    assert services.get_project_script(project_a).lookup_table == "pid/MRN1 = S1\n"
