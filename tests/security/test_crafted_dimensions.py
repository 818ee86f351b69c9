"""Issue 14, the probe suite: images whose headers declare absurd dimensions (65535 x 65535 pixels, two
billion frames) over a few bytes of pixel data. Archived through a REST import into the archive on a
live server, with their previews made and the pages showing them read: the server answers throughout,
its memory stays flat (a 65535 x 65535 image would need 8 GB), the instances are archived as they came,
and a preview, where one is made, is drawn from the pixels the file holds."""

from __future__ import annotations

import io
import zipfile

import pytest
import requests

from archive.models import File, ImageSession
from tests.dicomgen import make_study, write_study
from tests.security.conftest import BOUND
from tests.security.test_dicom_bombs import FLAT, MB, high_water_mark
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


def crafted_study() -> list:
    wide, frames = make_study(n_series=2, n_instances=1, study_description="A", patient_id="CRAFT1")
    wide.Rows = wide.Columns = 65535  # the pixel data stays 16 x 16
    frames.NumberOfFrames = 2**31 - 1
    return [wide, frames]


def test_crafted_dimensions_are_archived_without_previews_and_memory_stays_flat(
    start_live, project_a, tmp_path
):
    live = start_live()
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        for n, path in enumerate(write_study(crafted_study(), tmp_path / "crafted")):
            archive.write(path, f"crafted{n}.dcm")
    url = live.url + "data/services/import?PROJECT_ID=A&SUBJECT_ID=CRAFT&EXPT_LABEL=CRAFT1&dest=/archive"
    answer = requests.post(url, data=body.getvalue(), auth=("alice", "pw"), timeout=BOUND)
    assert answer.status_code == 200, answer.text
    session = wait_for(
        lambda: ImageSession.objects.filter(label="CRAFT1").first(), what="the archived session"
    )
    dicom = File.objects.filter(resource__scan__session=session, resource__label="DICOM")
    assert dicom.count() == 2  # archived as they came
    previews = File.objects.filter(resource__scan__session=session, resource__label="SNAPSHOTS")
    assert all(p.size < MB for p in previews)  # drawn from what the data holds, not what it declares

    web = requests.Session()
    web.auth = ("alice", "pw")
    page = web.get(live.url + f"data/projects/A/experiments/{session.label}?format=json", timeout=BOUND)
    assert page.status_code == 200
    for scan in session.scans.all():  # the previews' own URLs, as the pages ask for them
        snapshot = web.get(
            live.url
            + f"data/projects/A/experiments/{session.label}/scans/{scan.scan_id}/resources/SNAPSHOTS/files",
            timeout=BOUND,
        )
        assert snapshot.status_code in (200, 404)
    assert requests.get(live.url + "health", timeout=BOUND).status_code == 200  # still serving
    assert high_water_mark(live.pid()) < FLAT, f"serve grew to {high_water_mark(live.pid()) / MB:.0f} MB"
