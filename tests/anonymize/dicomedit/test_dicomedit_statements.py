"""Every statement form, on a dataset built in the test, with the tags expected after."""

import pytest
from pydicom.dataset import Dataset

from anonymize.dicomedit import RecordInfo, ScriptRuntimeError, parse_script
from tests.anonymize.dicomedit.datasets import item, run, seq


def test_assignment_creates_and_replaces(ds):
    run('(0010,0010) := "Anon"\n(0008,1030) := "New study"', ds)
    assert ds.PatientName == "Anon"
    assert ds.StudyDescription == "New study"
    assert ds["StudyDescription"].VR == "LO"


def test_assign_if_exists_leaves_absent_elements_absent(ds):
    run('(0010,0010) ?= "Anon"\n(0008,1030) ?= "New study"', ds)
    assert ds.PatientName == "Anon"
    assert "StudyDescription" not in ds


def test_deletion(ds):
    run("- (0010,0030)\n-(0008,0080)", ds)
    assert "PatientBirthDate" not in ds
    assert "InstitutionName" not in ds
    assert ds.PatientName == "Doe^John"


def test_assignment_converts_to_the_vr(ds):
    run('(0020,0013) := "7"\n(0028,0010) := 256\n(0008,0008) := "ORIGINAL\\\\PRIMARY"', ds)
    assert ds.InstanceNumber == 7
    assert ds.Rows == 256
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY"]


def test_assignment_of_a_tag_value(ds):
    run("(0008,103E) := (0010,0020)", ds)
    assert ds.SeriesDescription == "MRN123"


def test_missing_tag_reads_as_empty(ds):
    run("(0008,103E) := (0008,1030)", ds)
    assert ds.SeriesDescription == ""


@pytest.mark.parametrize(
    ("pattern", "kept"),
    [
        ("(0010,XXXX)", set()),
        ("(0010,002x)", {"PatientName", "PatientBirthDate"}),
        ("(0010,00#0)", {"PatientID"}),
        ("(0010,00@0)", {"PatientName", "PatientBirthDate"}),
    ],
)
def test_wildcard_deletion(ds, pattern, kept):
    run(f"- {pattern}", ds)
    remaining = {kw for kw in ("PatientName", "PatientID", "PatientBirthDate") if kw in ds}
    assert remaining == kept


def test_wildcard_removes_curve_groups():
    ds = Dataset()
    ds.add_new(0x50000010, "US", 1)
    ds.add_new(0x50020010, "US", 1)
    ds.add_new(0x50010010, "LO", "odd group stays")
    ds.PatientName = "x"
    run("- (50X@,XXXX)", ds)
    assert sorted(ds.keys()) == [0x00100010, 0x50010010]


def test_private_creator_tag_resolves_the_reserved_block(ds):
    # Another creator takes block 0x10 in group 0029; ours lands wherever it was reserved.
    ds.private_block(0x0029, "OTHER", create=True).add_new(0x01, "LO", "keep")
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    block.add_new(0x08, "CS", "IMAGE NUM 4")
    assert block.block_start == 0x1100
    run('(0029,{SIEMENS CSA HEADER}08) := "X"\n- (0019,{SIEMENS MR HEADER}0F)', ds)
    assert ds[0x00291108].value == "X"
    assert ds[0x00291001].value == "keep"
    assert 0x0019100F not in ds
    assert ds[0x00191010].value == "other"


def test_private_creator_with_wildcard_element(ds):
    run("- (0019,{SIEMENS MR HEADER}XX)", ds)
    assert 0x0019100F not in ds and 0x00191010 not in ds
    assert ds[0x00190010].value == "SIEMENS MR HEADER"


def test_private_creator_assignment_reserves_a_block_when_absent():
    ds = Dataset()
    run('(0033,{XNATLITE}01) := "hello"', ds)
    assert ds[0x00330010].value == "XNATLITE"
    assert ds[0x00331001].value == "hello"


def test_private_creator_path_of_absent_creator_matches_nothing(ds):
    run('- (0019,{NOBODY}0F)\n(0019,{NOBODY}0F) ?= "x"', ds)
    assert ds[0x0019100F].value == "secret"


def test_sequence_item_path(ds):
    run('(0008,1140)[1]/(0008,1155) := "9.9"', ds)
    assert [i.ReferencedSOPInstanceUID for i in ds.ReferencedImageSequence] == ["1.2.3.4.6", "9.9"]


def test_sequence_any_item_path(ds):
    run('(0008,1140)[%]/(0008,1155) := "9.9"', ds)
    assert [i.ReferencedSOPInstanceUID for i in ds.ReferencedImageSequence] == ["9.9", "9.9"]


def test_sequence_without_index_means_every_item(ds):
    run("- (0008,1140)/(0008,1155)", ds)
    assert all("ReferencedSOPInstanceUID" not in i for i in ds.ReferencedImageSequence)


def test_assignment_creates_missing_sequence_and_items():
    ds = Dataset()
    run('(0008,1115)[1]/(0020,000E) := "1.2"', ds)
    assert len(ds.ReferencedSeriesSequence) == 2
    assert ds.ReferencedSeriesSequence[1].SeriesInstanceUID == "1.2"
    assert "SeriesInstanceUID" not in ds.ReferencedSeriesSequence[0]


def deep_dataset() -> Dataset:
    ds = Dataset()
    ds.PatientName = "top"
    ds.ContentSequence = seq(
        item(
            PatientName="level1",
            ContentSequence=seq(item(PatientName="level2", ContentSequence=seq(item(PatientName="level3")))),
        ),
    )
    return ds


def names(ds: Dataset) -> list[str]:
    found = []
    for elem in ds.iterall():
        if elem.keyword == "PatientName":
            found.append(str(elem.value))
    return found


@pytest.mark.parametrize(
    ("path", "left"),
    [
        ("*/(0010,0010)", []),
        ("+/(0010,0010)", ["top"]),
        ("./(0010,0010)", ["top", "level2", "level3"]),
        ("(0040,A730)/*/(0010,0010)", ["top"]),
        ("(0040,A730)/+/(0010,0010)", ["top", "level1"]),
        ("(0040,A730)[0]/(0040,A730)[0]/(0010,0010)", ["top", "level1", "level3"]),
    ],
)
def test_depth_wildcards(path, left):
    ds = deep_dataset()
    run(f"- {path}", ds)
    assert names(ds) == left


def test_depth_wildcard_assignment_replaces_but_never_creates():
    ds = deep_dataset()
    ds.ContentSequence[0].ContentSequence[0].ContentSequence[0].Modality = "MR"
    run('*/(0008,0060) := "CT"', ds)
    assert "Modality" not in ds
    assert "Modality" not in ds.ContentSequence[0]
    assert ds.ContentSequence[0].ContentSequence[0].ContentSequence[0].Modality == "CT"


def test_self_reference_maps_each_element_in_place(ds):
    run('*/(0008,1155) ?= concatenate[replace[(0010,0020), "MRN", ""], ".", */(0008,1155)]', ds)
    assert [i.ReferencedSOPInstanceUID for i in ds.ReferencedImageSequence] == [
        "123.1.2.3.4.6",
        "123.1.2.3.4.7",
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('(0008,0060) = "MR"', "yes"),
        ('(0008,0060) = "CT"', "no"),
        ('(0008,0060) != "CT"', "yes"),
        ('(0008,103E) ~ "t1_.*"', "yes"),
        ('(0008,103E) ~ "t1"', "no"),  # ~ must match the whole value, like Java's matches
        ('(0008,103E) !~ "t2.*"', "yes"),
        ('project = "P1"', "yes"),
        ('"a" = "a"', "yes"),
        ('lowercase[(0008,0060)] = "mr"', "yes"),
    ],
)
def test_conditionals(ds, condition, expected):
    run(f'{condition} ? (0008,1030) := "yes" : (0008,1030) := "no"', ds)
    assert ds.StudyDescription == expected


def test_conditional_without_else_and_with_deletion(ds):
    run('(0008,0060) = "CT" ? (0008,103E) := "CT series" : -(0008,103E)', ds)
    assert "SeriesDescription" not in ds
    run('project != "Unassigned" ? (0008,1030) := project', ds)
    assert ds.StudyDescription == "P1"
    run('project = "Unassigned" ? (0008,1030) := "never"', ds)
    assert ds.StudyDescription == "P1"


def test_builtin_and_user_variables(ds):
    result = run(
        'label := format["{0}_{1}", subject, session]\n(0010,0020) := label\nlabel := "changed"\necho label',
        ds,
    )
    assert ds.PatientID == "S1_E1"
    assert result.echoes == ["changed"]


def test_described_variable_without_value_is_empty(ds):
    script = parse_script(
        'version "6.3"\ndescribe visit "Visit number"\ndescribe token hidden\n(0008,1030) := visit'
    )
    script.apply(ds, {})
    assert ds.StudyDescription == ""
    assert [(v.name, v.prompt, v.hidden) for v in script.variables] == [
        ("visit", "Visit number", False),
        ("token", "token", True),
    ]
    script.apply(ds, {"visit": "V2"})
    assert ds.StudyDescription == "V2"


def test_undefined_variable_fails_the_run_naming_the_statement(ds):
    with pytest.raises(ScriptRuntimeError, match=r"line 3 \(\(0008,1030\) := nowhere\): variable 'nowhere'"):
        run("// comment\n(0008,1030) := nowhere", ds)


def test_export_is_accepted_and_ignored(ds):
    run('export subject "xnat:subjectData/label"\n(0008,1030) := "ok"', ds)
    assert ds.StudyDescription == "ok"


def test_echo_collects_messages(ds):
    result = run('echo "hello", (0010,0010)\necho format["{0} -> {1}", (0008,0060), project]', ds)
    assert result.echoes == ["hello Doe^John", "MR -> P1"]


def test_reject_stops_and_flags(ds):
    result = run('(0008,0060) = "MR" ? reject\n(0010,0010) := "not reached"', ds)
    assert result.rejected
    assert ds.PatientName == "Doe^John"
    assert not run('(0008,0060) = "CT" ? reject', ds).rejected


def test_remove_all_private_tags_at_every_depth(ds):
    ds.ReferencedImageSequence[0].private_block(0x0021, "GEMS", create=True).add_new(0x01, "LO", "deep")
    run("removeAllPrivateTags", ds)
    assert not any(elem.tag.is_private for elem in ds.iterall())
    assert ds.PatientName == "Doe^John"


def test_retain_private_tags_keeps_listed_and_their_creator(ds):
    ds.private_block(0x0029, "OTHER", create=True).add_new(0x01, "LO", "gone")
    run('retainPrivateTags[(0019,{SIEMENS MR HEADER}0F), "(0029,{NOT THERE}XX)"]', ds)
    private = sorted(elem.tag for elem in ds.iterall() if elem.tag.is_private)
    assert private == [0x00190010, 0x0019100F]


def test_retain_private_tags_inside_a_private_sequence():
    ds = Dataset()
    block = ds.private_block(0x0019, "OUTER", create=True)
    inner = Dataset()
    inner_block = inner.private_block(0x0023, "INNER", create=True)
    inner_block.add_new(0x15, "LO", "keep me")
    inner_block.add_new(0x16, "LO", "drop me")
    block.add_new(0x02, "SQ", seq(inner))
    block.add_new(0x03, "LO", "drop")
    run("retainPrivateTags[(0019,{OUTER}02)/(0023,{INNER}15)]", ds)
    assert sorted(ds.keys()) == [0x00190010, 0x00191002]
    assert sorted(ds[0x00191002].value[0].keys()) == [0x00230010, 0x00231015]


def test_blank_values(ds):
    run("blankValues[(0010,0010), (0010,0030), */(0008,1155), (0008,1140)[0]/(0008,1150)]", ds)
    assert ds.PatientName == "" and ds.PatientBirthDate == ""
    assert [i.ReferencedSOPInstanceUID for i in ds.ReferencedImageSequence] == ["", ""]
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == ""
    assert "StudyDescription" not in ds


def test_blank_a_sequence_empties_it(ds):
    run("blankValues[(0008,1140)]\n- */(0008,1155)", ds)
    assert len(ds.ReferencedImageSequence) == 0


def test_new_uid_forms(ds):
    run("(0008,0018) := new UID\n(0020,000D) := newUID[]\n(0020,000E) := newUID", ds)
    uids = {ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID}
    assert len(uids) == 3 and all(uid.startswith("2.25.") for uid in uids)


def test_batched_statements_keep_statement_by_statement_results(ds):
    # Consecutive simple lines on distinct tags run as one batch; the result must not change.
    script = "\n".join(
        [
            "- */(0010,0030)",
            '*/(0008,0080) ?= ""',
            "*/(0008,1155) ?= hashUID[*/(0008,1155)]",
            "- (0008,1140)",
            "- (0010,0020)",
        ]
    )
    run(script, ds)
    assert "PatientBirthDate" not in ds and "ReferencedImageSequence" not in ds and "PatientID" not in ds
    assert ds.InstitutionName == ""


def test_runtime_error_names_the_line_inside_a_batch(ds):
    with pytest.raises(ScriptRuntimeError, match=r"line 3 \(\(0028,0010\) \?= \"abc\"\)"):
        run('- (0010,0030)\n(0028,0010) ?= "abc"\n- (0010,0040)', _with_rows(ds))


def _with_rows(ds: Dataset) -> Dataset:
    ds.Rows = 2
    return ds


def test_script_is_reusable_across_datasets(ds):
    script = parse_script('version "6.3"\n(0010,0010) := subject\n- */(0008,1155)')
    other = Dataset()
    other.ReferencedImageSequence = seq(item(ReferencedSOPInstanceUID="1.2"))
    script.apply(ds, {"subject": "A"})
    script.apply(other, {"subject": "B"})
    assert ds.PatientName == "A" and other.PatientName == "B"
    assert "ReferencedSOPInstanceUID" not in other.ReferencedImageSequence[0]


def test_record_appends_to_earlier_de_identification(ds):
    ds.DeidentificationMethod = "scanner export"
    script = parse_script('version "6.3"')
    script.apply(ds, {}, record=RecordInfo("site", "site script", deidentifying=True))
    script.apply(ds, {}, record=RecordInfo("site", "site script", deidentifying=True))
    script.apply(ds, {}, record=RecordInfo("P1", "project script", deidentifying=False))
    assert list(ds.DeidentificationMethod) == ["scanner export", "site script"]
    assert ds.PatientIdentityRemoved == "YES"
    codes = [
        (c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning) for c in ds.DeidentificationMethodCodeSequence
    ]
    assert codes == [("site", "99XNATLITE", "site script")] * 2 + [("P1", "99XNATLITE", "project script")]


def test_rejected_object_gets_no_record(ds):
    parse_script('version "6.6"\nreject').apply(ds, {}, record=RecordInfo("site", "site", deidentifying=True))
    assert "DeidentificationMethodCodeSequence" not in ds


def test_out_of_range_numbers_fail_at_the_statement(ds):
    with pytest.raises(
        ScriptRuntimeError, match=r"line 2 .*'70000' is not a valid US value for \(0028,0010\)"
    ):
        run("(0028,0010) := 70000", ds)
