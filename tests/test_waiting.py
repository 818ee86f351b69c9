"""tests/waiting.py: wait_for returns the condition's first true value, and fails, naming what it waited
for, after its timeout or as soon as the process it watches has exited."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tests.waiting import wait_for


def test_it_returns_the_first_true_value():
    answers = iter([None, 0, "", "here", "later"])
    assert wait_for(lambda: next(answers), what="an answer", poll=0) == "here"


def test_it_waits_for_another_thread():
    done = threading.Event()
    threading.Thread(target=done.set).start()
    assert wait_for(done.is_set, what="the thread")


def test_it_fails_after_the_timeout_naming_what_it_waited_for_and_the_log(tmp_path):
    log = tmp_path / "child.log"
    log.write_text("the last words")
    with pytest.raises(AssertionError, match=r"(?s)timed out after 0 s waiting for Godot.*the last words"):
        wait_for(lambda: False, what="Godot", timeout=0.05, log=log)


def test_it_fails_as_soon_as_the_process_exits():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(60)
    with pytest.raises(AssertionError, match="the process exited while waiting for its answer"):
        wait_for(lambda: False, what="its answer", process=proc)  # long before the timeout


def test_a_condition_met_as_the_process_exits_counts():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(60)
    assert wait_for(lambda: "met", what="the condition", process=proc) == "met"
