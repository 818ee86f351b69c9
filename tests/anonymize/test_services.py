"""Site and project scripts: stored, validated, versioned, audited, permission-checked, dry-run."""

import pydicom
import pytest
from django.core.management import CommandError, call_command

from anonymize import services
from anonymize.defaults import default_project_script_text, default_site_script_text
from anonymize.models import ProjectScript, ScriptVersion, SiteScript
from tests.dicomgen import pydicom_test_file
from xnatlite.errors import Forbidden, InvalidDicom, InvalidScript, NotFound
from xnatlite.models import AuditEvent

GOOD = 'version "6.3"\n(0010,0010) := subject\n'
BAD = 'version "6.3"\n(0010,0010) := subject\n(0008,1030) = \n'


def test_defaults_apply_until_something_is_saved(db, project_a):
    site = services.get_site_script()
    assert (site.text, site.enabled, site.is_default, site.deidentifying) == (
        default_site_script_text(),
        True,
        True,
        True,
    )
    project = services.get_project_script(project_a)
    assert (project.text, project.enabled, project.is_default) == (default_project_script_text(), True, True)
    script, record = services.site_script_for_ingest()
    assert record.code_value == "XNLSITE0" and record.deidentifying
    project_record = services.project_script_for_archive(project_a)[1]
    assert (project_record.code_value, project_record.meaning) == ("XNLPROJ0", "xnatlite project A script v0")


def test_admin_saves_site_script_as_a_new_version_with_audit(root):
    services.save_site_script(GOOD, enabled=True, by=root)
    state = services.save_site_script(GOOD + "-(0008,0080)\n", enabled=False, by=root, deidentifying=False)
    assert (state.version, state.enabled, state.deidentifying, state.updated_by) == (2, False, False, "root")
    assert SiteScript.objects.get().text.endswith("-(0008,0080)\n")
    assert list(ScriptVersion.objects.filter(project=None).values_list("version", "enabled")) == [
        (2, False),
        (1, True),
    ]
    events = AuditEvent.objects.filter(action="anonymize.site_script.saved").order_by("id")
    assert [e.details["previous_version"] for e in events] == [0, 1]
    assert events[0].details["previous_text"] == default_site_script_text()
    assert events[1].details["previous_text"] == GOOD
    assert services.site_script_for_ingest() is None  # disabled


def test_invalid_script_is_refused_with_line_and_column_and_nothing_changes(root):
    with pytest.raises(InvalidScript) as exc:
        services.save_site_script(BAD, enabled=True, by=root)
    assert "line 3" in exc.value.message and "column" in exc.value.message
    assert not SiteScript.objects.exists() and not ScriptVersion.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="anonymize").exists()


def test_only_site_admins_save_the_site_script(alice):
    with pytest.raises(Forbidden):
        services.save_site_script(GOOD, enabled=True, by=alice)
    assert services.get_site_script().is_default


def test_a_saved_site_script_is_used_by_ingest_after_the_cache(root):
    first = services.site_script_for_ingest()
    services.save_site_script(GOOD, enabled=True, by=root)
    script, record = services.site_script_for_ingest()  # the save clears this process's cache
    assert script is not first[0] and record.code_value == "XNLSITE1"
    ds = pydicom.Dataset()
    ds.PatientName = "DOE^JOHN"
    script.apply(ds, {"project": "P", "subject": "S1", "session": "E1"}, record=record)
    assert ds.PatientName == "S1"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "XNLSITE1"


def test_owner_saves_project_script_member_and_stranger_cannot(project_a, alice, bob, dave):
    with pytest.raises(Forbidden):
        services.save_project_script(project_a, GOOD, enabled=True, by=bob)
    with pytest.raises(NotFound):
        services.save_project_script(project_a, GOOD, enabled=True, by=dave)
    assert not ProjectScript.objects.exists()
    state = services.save_project_script(project_a, GOOD, enabled=False, by=alice)
    assert (state.version, state.enabled) == (1, False)
    assert services.project_script_for_archive(project_a) is None
    event = AuditEvent.objects.get(action="anonymize.project_script.saved")
    assert (event.project_id, event.details["previous_text"]) == ("A", default_project_script_text())
    assert list(services.script_versions(project_a).values_list("version", flat=True)) == [1]
    with pytest.raises(InvalidScript):
        services.save_project_script(project_a, BAD, enabled=True, by=alice)
    assert ProjectScript.objects.get().text == GOOD


def test_dry_run_of_the_default_project_script_on_a_real_file(project_a, alice):
    path = pydicom_test_file("CT_small.dcm")
    before = path.read_bytes()
    changes = services.dry_run_project_script(project_a, path, by=alice, subject="S01", session="S01_CT1")
    by_keyword = {c.keyword: c for c in changes.changes}
    assert by_keyword["PatientName"].after == "S01"
    assert by_keyword["PatientID"].after == "S01_CT1"
    assert by_keyword["StudyDescription"].after == "A"
    assert path.read_bytes() == before


def test_dry_run_of_an_unsaved_edit_and_of_a_non_dicom_file(project_a, alice, bob, tmp_path):
    changes = services.dry_run_project_script(
        project_a, pydicom_test_file("MR_small.dcm"), by=alice, text=GOOD
    )
    assert [(c.keyword, c.after) for c in changes.changes] == [("PatientName", "SUBJECT")]
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all" * 20)
    with pytest.raises(InvalidDicom):
        services.dry_run_project_script(project_a, junk, by=alice)
    assert junk.read_bytes() == b"not dicom at all" * 20
    with pytest.raises(Forbidden):
        services.dry_run_project_script(project_a, junk, by=bob)


def test_dry_run_command_prints_changes(db, capsys):
    call_command("anon_dryrun", str(pydicom_test_file("CT_small.dcm")), "--subject", "S9")
    out = capsys.readouterr().out
    assert out.startswith("site script on ")
    assert "InstitutionName" in out and "'JFK IMAGING CENTER' -> ''" in out
    with pytest.raises(CommandError, match="No project 'NOPE'"):
        call_command("anon_dryrun", str(pydicom_test_file("CT_small.dcm")), "--project", "NOPE")


def test_what_a_script_could_never_run_is_refused_when_saved(root, project_a, alice, settings):
    shifting = 'version "6.3"\nshiftSubjectDates["(0008,0020)"]\n'
    with pytest.raises(InvalidScript, match="project scripts only"):
        services.save_site_script(shifting, enabled=True, by=root)
    assert services.save_project_script(project_a, shifting, enabled=True, by=alice).version == 1
    fetching = 'version "6.3"\n(0010,0020) := getURL["http://127.0.0.1/ids"]\n'
    settings.SCRIPT_URL_PREFIXES = []
    with pytest.raises(InvalidScript, match="getURL is turned off"):
        services.save_project_script(project_a, fetching, enabled=True, by=alice)
    settings.SCRIPT_URL_PREFIXES = ["http://127.0.0.1/"]
    assert services.save_project_script(project_a, fetching, enabled=True, by=alice).version == 2
    assert not SiteScript.objects.exists()
