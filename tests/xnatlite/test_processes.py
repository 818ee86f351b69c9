"""Processes that belong together (xnatlite/processes.py): a child that ends with its parent, a name
one process on the host holds."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.waiting import TIMEOUT, wait_for
from xnatlite import processes


def test_a_name_is_held_by_one_holder_until_it_lets_go():
    first = processes.hold_name("test-name")
    assert first is not None
    assert processes.hold_name("test-name") is None
    first.close()
    again = processes.hold_name("test-name")
    assert again is not None
    again.close()


def test_a_child_ends_when_its_parent_is_killed(tmp_path):
    """A middle process starts a grandchild that asks to end with it, then is killed (SIGKILL)."""
    pid_file = tmp_path / "grandchild.pid"
    grandchild = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(sys.path[0])!r})
        from xnatlite import processes
        processes.end_with_parent(int(sys.argv[1]))
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        while True:
            time.sleep(1)
        """
    )
    middle = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {grandchild!r}, str(os.getpid())])
        while True:
            time.sleep(1)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", middle])
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the grandchild to start")
        pid = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait(TIMEOUT)

        def gone() -> bool:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                return True
            return state == "Z"

        wait_for(gone, what="the grandchild to end with its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
