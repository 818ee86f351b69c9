"""Parsing: versions, lexical forms, and syntax errors that name the line and column."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymize.dicomedit import ScriptSyntaxError, parse_script, parse_tag_path
from tests.anonymize.dicomedit.datasets import run


@pytest.mark.parametrize("version", ['"6.0"', '"6.3"', '"6.6"', "6.1", '"6.3.1"'])
def test_accepted_versions(version):
    assert parse_script(f"// header\n\nversion {version}\n").statements == ()


def test_script_without_version_is_refused():
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_script('(0010,0010) := "x"\n')
    assert (
        caught.value.message == 'Only DicomEdit 6 scripts are supported: start the script with version "6.3"'
    )
    assert (caught.value.line, caught.value.column) == (1, 1)


def test_unsupported_version():
    with pytest.raises(ScriptSyntaxError, match=r'line 1, column 9: unsupported DicomEdit version "5.0"'):
        parse_script('version "5.0"')


def test_string_escapes_and_single_quotes(ds):
    run(r'(0020,4000) := "a\tb\\c\"d\(e\)\101\7"', ds)
    assert ds.ImageComments == 'a\tb\\c"d(e)A\x07'
    run("(0008,103E) := 'single'", ds)
    assert ds.SeriesDescription == "single"


def test_comments_and_blank_lines(ds):
    run('\n// a comment\n   \n(0010,0010) := "x" // trailing comment\n\n', ds)
    assert ds.PatientName == "x"


def test_numbers_as_values(ds):
    run("(0020,0013) := 12\n(0018,0050) := 1.25\n(0020,0012) := -3", ds)
    assert ds.InstanceNumber == 12 and ds.SliceThickness == 1.25 and ds.AcquisitionNumber == -3


def test_tag_path_text_is_canonical():
    assert parse_tag_path("*/(0008,1140)[%]/(0019,{ACME}x@)").text == "*/(0008,1140)[%]/(0019,{ACME}X@)"


@pytest.mark.parametrize(
    ("script", "line", "column", "message"),
    [
        ('(0010,0010) "x"', 2, 13, "expected ':=' , '?=' or a conditional after the tag (0010,0010)"),
        ("(0010,001) := 1", 2, 7, "expected four hex digits for the element of the tag"),
        ("(001G,0010) := 1", 2, 2, "four hex digits for the group"),
        ("(0010 0010) := 1", 2, 6, "expected ',' between group and element"),
        ("(0018,{SIEMENS}10) := 1", 2, 1, "a private creator needs an odd group"),
        ("(0019,{SIEMENS 10) := 1", 2, 7, "private creator is missing its closing '}'"),
        ('(0010,0010) := "open', 2, 16, "unterminated string"),
        ('(0010,0010) := "bad \\q"', 2, 21, "unknown escape \\q"),
        ("(0010,0010) := frobnicate[1]", 2, 16, "unknown function 'frobnicate'"),
        ('(0010,0010) := lowercase["a", "b"]', 2, 16, "lowercase takes 1 argument, not 2"),
        ('(0010,0010) := substring["a"]', 2, 16, "substring takes 2 to 3 arguments, not 1"),
        ('(0010,0010) := "a" "b"', 2, 20, "expected the end of the line after the statement, found '\"b\"'"),
        ('(0008,0060) = "MR" (0010,0010) := "x"', 2, 20, "expected '?' after the condition"),
        ('(0008,0060) ~ "[" ? - (0010,0010)', 2, 15, "invalid regular expression '['"),
        ('x := match["a", "(", 1]', 2, 17, "invalid regular expression '('"),
        ("- 12", 2, 5, "expected a comparison (=, !=, ~ or !~), found the end of the script"),
        ("- project", 2, 3, "expected a tag after '-', found 'project'"),
        ("(0008,1140)[0] := 1", 2, 16, "an item index must be followed by '/' and a tag"),
        ("(0008,1140)[x]/(0008,1155) := 1", 2, 13, "expected an item number or %"),
        ("*(0010,0010) := 1", 2, 2, "expected '/' and a tag after '*'"),
        ('project ?= "x"', 2, 9, "'?=' needs a tag on its left"),
        ("foo bar", 2, 5, "expected ':=' or a comparison after foo, found 'bar'"),
        ('version "6.3"', 2, 1, "version may only appear once"),
        ('(0008,0060) = "MR" ? describe x "y"', 2, 22, "describe cannot be used inside a conditional"),
        ("x := blankValues[(0010,0010)]", 2, 6, "blankValues changes the dataset and has no value"),
        ('blankValues["(0010,0010"]', 2, 13, "blankValues expects tag paths"),
        ("retainPrivateTags[project]", 2, 19, "retainPrivateTags expects a tag path, found 'project'"),
        ("(0010,0010) := $", 2, 16, "unexpected character '$'"),
        ('(0008,0060) = "MR" ? (0010,0010) = "x" ? reject', 2, 34, "expected ':=' , '?=' or a conditional"),
        ('if ((0008,0060) = "MR") {\n- (0010,0010)', 3, 14, "expected '}' to close the block"),
        ('if ((0008,0060) = "MR") - (0010,0010)', 2, 25, "expected '{' to open the block"),
        ('if ((0008,0060) "MR") {\n}', 2, 17, "expected a comparison"),
        ('if ((0008,0060) = "MR" {\n}', 2, 24, "expected ')' after the condition"),
        ('if ((0008,0060) = "MR") {\ndescribe x hidden\n}', 3, 1, "describe cannot be used inside a block"),
        ('project = "P" ? if ((0008,0060) = "MR") {\n}', 2, 17, "an if block cannot be the action"),
    ],
)
def test_syntax_errors_name_line_and_column(script, line, column, message):
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_script('version "6.3"\n' + script)
    assert (caught.value.line, caught.value.column) == (line, column), caught.value
    assert message in caught.value.message
    assert str(caught.value).startswith(f"line {line}, column {column}: ")


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_arbitrary_text_only_raises_syntax_errors(text):
    try:
        parse_script(text)
    except ScriptSyntaxError:
        pass


ALPHABET = list("()[]{},/*+.%-:=?!~\"'\\ \n0123456789abcdefxX#@") + [
    "version ",
    'version "6.3"\n',
    "(0010,0010)",
    "(0019,{ACME}0F)",
    ":=",
    "?=",
    "echo ",
    "hashUID[",
    "format[",
    "removeAllPrivateTags",
    "retainPrivateTags[",
    "project",
    "new UID",
    "describe ",
    "reject",
    "if (",
    ") {",
    "} else {",
    "else if (",
    "}\n",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=40))
def test_script_like_text_only_raises_syntax_errors(pieces):
    try:
        parse_script('version "6.3"\n' + "".join(pieces))
    except ScriptSyntaxError:
        pass
