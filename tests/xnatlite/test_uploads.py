"""Upload folders and their sweep (xnatlite/uploads.py): what a killed process left is removed, what a
live one uses never is (issue 14 item 13)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from xnatlite import uploads

ROOT = Path(__file__).resolve().parents[2]


def test_a_folder_in_use_is_kept_and_removed_afterwards():
    with uploads.upload_folder() as folder:
        (folder / "x.part").write_bytes(b"data")
        assert uploads.sweep_upload_leftovers() == 0
        assert (folder / "x.part").exists()
    assert not folder.exists()
    assert list(uploads.uploads_root().iterdir()) == []


def test_what_a_killed_process_left_is_swept(data_root):
    """A child takes an upload folder, writes a part and is killed with SIGKILL mid-upload."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "import django; django.setup()\n"
            "from xnatlite import uploads\n"
            "with uploads.upload_folder() as folder:\n"
            "    (folder / 'big.part').write_bytes(b'x' * 1000)\n"
            "    print(folder, flush=True)\n"
            "    time.sleep(600)\n",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "xnatlite.settings",
            "DEBUG": "true",
            "XNATLITE_DATA_ROOT": str(data_root),
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        folder = Path(child.stdout.readline().strip())
        assert (folder / "big.part").exists()
        assert uploads.sweep_upload_leftovers() == 0  # the child is alive: its folder stays
        assert folder.exists()
    finally:
        child.kill()
        child.wait(60)
    assert uploads.sweep_upload_leftovers() == 1
    assert not folder.exists()
    assert list(uploads.uploads_root().iterdir()) == []


def test_unlocked_leftovers_of_older_versions_go_after_a_day():
    root = uploads.uploads_root()
    old, new = root / "0123abcd", root / "4567cdef"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "upload").write_bytes(b"x")
    day_ago = time.time() - uploads.LEGACY_LEFTOVER_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    assert uploads.sweep_upload_leftovers() == 1
    assert not old.exists() and new.exists()
