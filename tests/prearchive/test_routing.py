"""The routing chain and the rule syntax as pure functions (xnat-spec.md §5.4, §5.5)."""

import pytest
from pydicom.dataset import Dataset

from prearchive import routing
from prearchive.routing import ReceiverRules, RuleSet, SiteRules, parse_rules, route_instance
from xnatlite.errors import InvalidInput

PROJECTS = {"PRJ": "PRJ", "ALIAS1": "PRJ", "OTHER": "OTHER", "DESC": "DESC", "ACC": "ACC"}


def find(values):
    return {v: PROJECTS[v] for v in values if v in PROJECTS}


def dataset(**fields) -> Dataset:
    ds = Dataset()
    defaults = {
        "PatientName": "DOE^JOHN",
        "PatientID": "MRN 123",
        "StudyDescription": "",
        "AccessionNumber": "",
    }
    for keyword, value in {**defaults, **fields}.items():
        setattr(ds, keyword, value)
    return ds


def test_it_uses_the_dicom_fields_last():
    found = route_instance(dataset(StudyDescription="DESC", AccessionNumber="ACC"), RuleSet(), find)
    assert (found.project_id, found.subject, found.session) == ("DESC", "DOE_JOHN", "MRN_123")


def test_it_falls_through_to_accession_number_when_the_description_names_no_project():
    found = route_instance(dataset(StudyDescription="Brain MRI", AccessionNumber="ACC"), RuleSet(), find)
    assert found.project_id == "ACC"


def test_it_leaves_the_project_unassigned_and_names_the_session_dicom_upload():
    ds = dataset(StudyDescription="nothing", PatientID="")
    found = route_instance(ds, RuleSet(), find)
    assert found.project_id is None
    assert found.session == "dicom_upload"
    assert found.subject == "DOE_JOHN"


def test_comment_fields_come_before_the_dicom_fields_in_xnat_order():
    ds = dataset(
        StudyDescription="DESC",
        StudyComments="Project: OTHER Subject: s2 Session: e2",
        PatientComments="Project:PRJ;Subject:S01;Session:S01_MR1;AA:true",
    )
    found = route_instance(ds, RuleSet(), find)
    assert (found.project_id, found.subject, found.session, found.auto_archive) == (
        "PRJ",
        "S01",
        "S01_MR1",
        True,
    )


def test_a_comment_naming_no_project_falls_through():
    ds = dataset(
        PatientComments="Project: NOPE", AdditionalPatientHistory="Project: OTHER", StudyDescription="DESC"
    )
    # Patient Comments offers NOPE, which names no project: Additional Patient History is next.
    assert route_instance(ds, RuleSet(), find).project_id == "OTHER"


def test_the_comment_syntax_needs_separators_and_ignores_case():
    assert routing.comment_value(dataset(PatientComments="xProject: PRJ"), "Project") == ""
    assert routing.comment_value(dataset(PatientComments="notes, project : prj, more"), "Project") == "prj"
    assert routing.comment_value(dataset(PatientComments="AA:false"), "AA") == "false"


def test_receiver_expressions_come_before_site_rules_and_aliases_count():
    rules = RuleSet(
        receiver=ReceiverRules(
            project=parse_rules(r"(0008,1030):Study of (\w+)"), subject=parse_rules(r"(0010,0020):MRN (\d+)")
        ),
        site=SiteRules(
            project=parse_rules(r"(0008,1030):.*"), session=parse_rules(r"(0010,0010):(\w+)\^(\w+):2")
        ),
    )
    found = route_instance(dataset(StudyDescription="Study of ALIAS1"), rules, find)
    assert (found.project_id, found.subject, found.session) == ("PRJ", "123", "JOHN")


def test_site_rules_apply_when_the_receiver_has_none_and_values_become_labels():
    rules = RuleSet(site=SiteRules(subject=parse_rules(r"(0010,0010):(.*)")))
    assert route_instance(dataset(PatientName="O'Brien^Pat"), rules, find).subject == "O_Brien_Pat"


def test_explicit_values_win():
    rules = RuleSet(receiver=ReceiverRules(project=parse_rules(r"(0008,1030):(.*)")))
    found = route_instance(
        dataset(StudyDescription="DESC"), rules, find, project_id="OTHER", subject="S9", session="E9"
    )
    assert (found.project_id, found.subject, found.session) == ("OTHER", "S9", "E9")


def test_a_rule_matches_the_whole_value_truncated_to_64_characters():
    rule = parse_rules(r"(0008,1030):(P\w+)")[0]
    assert rule.extract(dataset(StudyDescription="PRJ")) == "PRJ"
    assert rule.extract(dataset(StudyDescription="PRJ and more")) == ""
    long_rule = parse_rules(r"(0008,1030):(x{64})")[0]
    assert long_rule.extract(dataset(StudyDescription="x" * 64 + "yyy")) == "x" * 64


def test_a_rule_may_replace_text_in_its_result():
    rule = parse_rules(r"(0008,1030):Proj-(\S+):1 t:- r:_")[0]
    assert rule.extract(dataset(StudyDescription="Proj-a-b")) == "a_b"


def test_site_aa_rules_come_before_comments():
    rules = RuleSet(site=SiteRules(aa=parse_rules(r"(0008,1030):AUTO-(\w+)")))
    ds = dataset(StudyDescription="AUTO-false", PatientComments="AA:true")
    assert route_instance(ds, rules, find).auto_archive is False
    assert route_instance(dataset(PatientComments="AA: maybe"), RuleSet(), find).auto_archive is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("0008,1030:x", "line 1 is not of the form"),
        ("\n(0008,1030):(unclosed", "line 2 has a bad regular expression"),
        ("(0008,1030):(a):3", "uses group 3"),
    ],
)
def test_bad_rules_are_refused_with_the_line(text, message):
    with pytest.raises(InvalidInput, match=message):
        parse_rules(text)


# --- hostile values and patterns (issue 14 item 3): RE2, linear time -------------------------------
def _route_in_child(setup: str) -> str:
    """Route a hostile dataset in a fresh interpreter, bounded; its printed project and session."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    code = textwrap.dedent(
        """
        from pydicom.dataset import Dataset
        from prearchive.routing import RuleSet, SiteRules, ReceiverRules, parse_rules, route_instance
        ds = Dataset()
        ds.PatientName, ds.PatientID = "P", "S1"
        """
    ) + textwrap.dedent(setup)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=60,
            env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "xnatlite.settings", "DEBUG": "true"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("routing was still running after 60 s")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_hostile_comment_field_routes_at_once():
    """330 KB of `Project: a ` in Patient Comments took Python's engine seconds per field, per key."""
    out = _route_in_child(
        """
        ds.PatientComments = "Project: a " * 30000 + "\\nx"
        ds.StudyComments = "Subject: b " * 30000 + "\\nx"
        found = route_instance(ds, RuleSet(), lambda values: {})
        print(found.project_id, found.session)
        """
    )
    assert out == "None S1"


def test_a_catastrophic_rule_runs_at_once():
    out = _route_in_child(
        """
        ds.StudyDescription = "a" * 63 + "!"
        rules = RuleSet(site=SiteRules(project=parse_rules("(0008,1030):((a+)+b)"), session=parse_rules("(0008,1030):(a|aa)+b t:a r:x")))
        found = route_instance(ds, rules, lambda values: {})
        print(found.project_id, found.session)
        """
    )
    assert out == "None S1"


def test_a_rule_re2_cannot_run_is_refused_naming_its_line():
    with pytest.raises(InvalidInput) as exc:
        parse_rules("(0008,1030):(\\w+)\n(0010,0020):(a)\\1")
    assert "line 2" in exc.value.message
    assert "RE2 has no backreferences" in exc.value.message
