"""Script regexes run with RE2 (anonymize/dicomedit/regex.py): linear time whatever the pattern, and a
pattern RE2 cannot compile is refused when the script is parsed, naming the line (issue 14 item 3).

The hostile cases run in a child process with a generous bound: with Python's backtracking engine they
never finish (2^64 steps), so a regression shows as the child killed at the bound, never as a hung suite.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anonymize.dicomedit import ScriptRuntimeError, ScriptSyntaxError, parse_script
from tests.anonymize.dicomedit.datasets import run

ROOT = Path(__file__).resolve().parents[3]
BOUND = 60.0  # seconds: a safety net for the child, not an expectation (it takes milliseconds)
HOSTILE = "a" * 64 + "!"


def run_child(code: str) -> str:
    """Run `code` in a fresh interpreter at the repository root; its stdout, or fail at the bound."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=BOUND,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the regular expression was still running after {BOUND:.0f} s")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    "statement",
    [
        f'"{HOSTILE}" ~ "(a+)+b" ? (0010,0010) := "hit" : (0010,0010) := "miss"',
        f'"{HOSTILE}" !~ "(a|aa)+b" ? (0010,0010) := "miss" : (0010,0010) := "hit"',
        f'(0010,0010) := ismatch["{HOSTILE}", "(a*)*b"]',
        f'(0010,0010) := match["{HOSTILE}", "(a+)+b", 1]',
        # a pattern computed at run time, as a header value could hold one
        f'pattern := concatenate["(a+", ")+b"]\n"{HOSTILE}" ~ pattern ? (0010,0010) := "hit" : (0010,0010) := "miss"',
    ],
)
def test_catastrophic_patterns_finish_at_once(statement):
    out = run_child(
        f"""
        from pydicom.dataset import Dataset
        from anonymize.dicomedit import parse_script
        ds = Dataset()
        ds.PatientName = "x"
        parse_script('version "6.3"\\n' + {statement!r}).apply(ds, {{}})
        print(ds.PatientName)
        """
    )
    assert out in ("miss", "false", "")


@pytest.mark.parametrize(
    "regex, construct",
    [
        (r"(a)\\1", "backreference"),
        (r"(?=a)a", "lookahead"),
        (r"(?<!a)b", "lookbehind"),
        (r"a++", "possessive"),
    ],
)
def test_a_literal_pattern_re2_cannot_run_is_refused_naming_line_and_column(regex, construct):
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_script(f'version "6.3"\n\n(0008,0060) ~ "{regex}" ? - (0010,0010)\n')
    assert (caught.value.line, caught.value.column) == (3, 15), construct
    assert "invalid regular expression" in caught.value.message
    assert "RE2 has no backreferences, lookaround" in caught.value.message


def test_a_function_pattern_re2_cannot_run_is_refused_when_parsed():
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_script('version "6.3"\nx := match["aa", "(a)\\\\1", 1]\n')
    assert caught.value.line == 2
    assert "RE2" in caught.value.message


def test_a_computed_pattern_re2_cannot_run_fails_the_run(ds):
    with pytest.raises(ScriptRuntimeError) as caught:
        run('p := concatenate["(?=", "a)"]\n"a" ~ p ? (0010,0010) := "x"', ds)
    assert "invalid regular expression" in caught.value.message


def test_patterns_keep_their_meaning(ds):
    """What scripts write keeps working: whole-value matches, groups, classes, case flags."""
    run('(0008,103E) ~ "(?i)T1_.*" ? (0010,0010) := "t1" : (0010,0010) := "other"', ds)
    assert str(ds.PatientName) == "t1"
    run('(0010,0020) := match["Scan_042_T1", "Scan_(\\\\d+)_(\\\\w+)", 2]', ds)
    assert ds.PatientID == "T1"
    run('(0010,0020) := match["ab", "(a)(x)?b", 2]', ds)  # a group that took no part is ''
    assert ds.PatientID == ""
