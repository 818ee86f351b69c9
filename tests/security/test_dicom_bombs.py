"""Issue 14 item 4: a 1 MB C-STORE in Deflated Explicit VR Little Endian holding 1 GiB of zeros was
acknowledged and drove a spool worker to 1.76 GB of memory, with no authentication. Deflated data sets
are inflated with a bound now (dicomio/inflation.py): the bomb is quarantined, the worker's memory
stays flat, and an upload of the same file is refused by name (or skipped and named)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
import requests
from pynetdicom import _config

from dicom_receiver.models import QuarantinedInstance
from prearchive.models import PrearchiveFile
from tests.dicomgen import make_study, send_datasets, write_deflated, write_study
from tests.security.conftest import BOUND
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
MB = 1024 * 1024
BOMB = 1024 * MB  # inflated; about 1 MB deflated
# Generous: a worker holds ~150 MB once warm; inflating the bomb whole took it to 1.76 GB.
FLAT = 600 * MB


def high_water_mark(pid: int) -> int:
    """The most resident memory the process ever had (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def spool_workers(parent: int) -> list[int]:
    """The spool worker processes `serve` started (`manage.py dicom_receiver --role worker`)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                command = fh.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"dicom_receiver" in command and b"worker" in command:
            found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bomb")
    ds = make_study(n_instances=1, study_description="A", patient_name="BOMB")[0]
    return write_deflated(folder / "bomb.dcm", ds, zeros=BOMB)


def test_a_deflate_bomb_over_dicom_is_quarantined_and_the_worker_stays_flat(
    start_live, project_a, bomb, monkeypatch
):
    assert bomb.stat().st_size < 2 * MB
    live = start_live(XNATLITE_RECEIVER_WORKERS="1")
    [worker] = wait_for(lambda: spool_workers(live.pid()), what="the spool worker", timeout=BOUND)
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # the deflated bytes as they are
    # acknowledged: the receiver cannot tell without inflating it; the worker finds out
    assert send_datasets(live.dicom_port, [bomb]) == [0x0000]
    row = wait_for(
        lambda: QuarantinedInstance.objects.first(), what="the bomb to be quarantined", timeout=BOUND
    )
    assert "deflate bomb" in row.reason
    assert not PrearchiveFile.objects.exists()  # nothing of it reached the prearchive
    assert high_water_mark(worker) < FLAT, f"the spool worker grew to {high_water_mark(worker) / MB:.0f} MB"

    # the worker goes on: a real study after it is kept
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", False)
    assert send_datasets(live.dicom_port, make_study(n_instances=2, study_description="A")) == [0, 0]
    wait_for(lambda: PrearchiveFile.objects.count() == 2, what="the real study", timeout=BOUND)
    assert QuarantinedInstance.objects.count() == 1


def test_a_deflate_bomb_in_an_upload_is_refused_by_name_and_nothing_else_is_lost(
    start_live, project_a, bomb, tmp_path
):
    live = start_live()
    [good] = write_study(make_study(n_instances=1, study_description="A"), tmp_path / "good")
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        archive.write(good, "good.dcm")
        archive.write(bomb, "bomb.dcm")
    url = live.url + "data/services/import?PROJECT_ID=A&import-handler=DICOM-zip"

    refused = requests.post(url, data=body.getvalue(), auth=("alice", "pw"), timeout=BOUND)
    assert refused.status_code == 400
    assert "bomb.dcm" in refused.text and "deflate bomb" in refused.text
    assert PrearchiveFile.objects.count() == 1  # good.dcm, ingested before it, is kept

    skipped = requests.post(
        url + "&Ignore-Unparsable=true", data=body.getvalue(), auth=("alice", "pw"), timeout=BOUND
    )
    assert skipped.status_code == 200, skipped.text
    assert skipped.headers["X-Skipped-Files"] == "1"
    assert skipped.headers["X-Skipped-File-Names"] == "bomb.dcm"
    assert PrearchiveFile.objects.count() == 1  # the same instance again: replaced, not doubled
    assert high_water_mark(live.pid()) < FLAT, f"serve grew to {high_water_mark(live.pid()) / MB:.0f} MB"
