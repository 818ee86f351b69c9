"""Previews: a middle slice windowed sensibly, a montage for multi-frame instances, a placeholder when
the pixels cannot be shown; stored as the scan's SNAPSHOTS resource and never failing anything."""

import numpy as np
import pydicom
import pytest
from PIL import Image

from archive import previews
from archive.models import File
from prearchive import handoff
from tests.dicomgen import make_study, pydicom_test_file


def image(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def archive_files(ready, user, datasets, callbacks, **labels):
    session = ready(datasets=datasets)
    with callbacks(execute=True):
        labels.setdefault("confirm_identifiers", True)  # bundled files carry names (Lastname^Firstname)
        return handoff.archive_session(session, by=user, **labels).session


def test_window_center_and_width_decide_the_grey_levels():
    ds = make_study(1, 1)[0]
    values = np.array([[0, 100, 200, 300]], dtype=np.float64)
    ds.WindowCenter, ds.WindowWidth = 150, 100
    assert previews._window(values, ds).tolist() == [[0, 0, 255, 255]]
    del ds.WindowCenter, ds.WindowWidth
    spread = previews._window(np.arange(1000, dtype=np.float64).reshape(10, 100), ds)
    assert spread.min() == 0 and spread.max() == 255  # percentiles without a window
    ds.PhotometricInterpretation = "MONOCHROME1"
    assert previews._window(values, ds)[0, 0] == 255


def test_the_middle_slice_becomes_the_preview(ready, project_a, alice, django_capture_on_commit_callbacks):
    datasets = make_study(1, 5, rows=16, cols=16, study_description="A")
    archived = archive_files(ready, alice, datasets, django_capture_on_commit_callbacks)
    scan = archived.scans.get()
    full = image(previews.preview_file(scan))
    thumbnail = image(previews.preview_file(scan, thumbnail=True))
    assert full.shape == (16, 16) and thumbnail.shape == (16, 16)
    # Instance 3 of 5 is the middle one; its pattern differs from every other instance's.
    middle = datasets[2].pixel_array.astype(np.float64)
    low, high = np.percentile(middle, (1, 99))
    expected = (np.clip(middle, low, high) - low) * (255.0 / (high - low))
    assert np.abs(full.astype(int) - expected.astype(np.uint8).astype(int)).max() <= 1
    rows = File.objects.filter(resource__scan=scan, resource__label="SNAPSHOTS")
    assert {(f.format, f.content, f.tags) for f in rows} == {
        ("PNG", "ORIGINAL", ""),
        ("PNG", "THUMBNAIL", ""),
    }


@pytest.mark.parametrize(
    "name, placeholder",
    [
        ("MR_small_jpeg_ls_lossless.dcm", True),
        ("rtdose.dcm", False),
        ("SC_rgb_rle_2frame.dcm", False),
        ("MR_small.dcm", False),
    ],
)
def test_bundled_files_get_a_preview_or_a_placeholder(
    ready, project_a, alice, name, placeholder, django_capture_on_commit_callbacks
):
    ds = pydicom.dcmread(pydicom_test_file(name))
    ds.StudyDescription = "A"
    ds.PatientID = "P1"
    archived = archive_files(ready, alice, [ds], django_capture_on_commit_callbacks)
    scan = archived.scans.get()
    path = previews.preview_file(scan)
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")
    original = File.objects.get(resource__scan=scan, resource__label="SNAPSHOTS", content="ORIGINAL")
    assert (original.tags == "placeholder") is placeholder
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1 and not placeholder:  # a montage: more than one tile across
        assert Image.open(path).size[0] > ds.Columns or Image.open(path).size[0] == previews.FULL_SIZE


def test_an_instance_without_pixels_gets_a_placeholder(
    ready, project_a, alice, django_capture_on_commit_callbacks
):
    ds = make_study(1, 1, study_description="A")[0]
    del ds.PixelData
    archived = archive_files(ready, alice, [ds], django_capture_on_commit_callbacks)
    original = File.objects.get(
        resource__scan__session=archived, resource__label="SNAPSHOTS", content="ORIGINAL"
    )
    assert original.tags == "placeholder"
    assert image(original.absolute_path).shape == (256, 256)


def test_a_failing_preview_never_fails_the_archive(
    ready, project_a, alice, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(scan):
        raise OSError("disk full")

    monkeypatch.setattr(previews, "make_scan_preview", broken)
    archived = archive_files(
        ready, alice, make_study(1, 2, study_description="A"), django_capture_on_commit_callbacks
    )
    assert archived.scans.count() == 1
    assert previews.preview_file(archived.scans.get()) is None


def test_previews_are_served_to_readers_only(
    client, ready, project_a, carol, dave, alice, django_capture_on_commit_callbacks
):
    archived = archive_files(
        ready, alice, make_study(1, 2, study_description="A"), django_capture_on_commit_callbacks
    )
    file = File.objects.get(resource__scan__session=archived, resource__label="SNAPSHOTS", content="ORIGINAL")
    from django.urls import reverse

    url = reverse("file-download", args=["A", archived.label, file.pk])
    client.force_login(carol)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content]).startswith(
        b"\x89PNG"
    )
    client.force_login(dave)
    assert client.get(url).status_code == 404


def test_previews_whose_task_was_lost_are_made_by_the_sweep(session_a, django_capture_on_commit_callbacks):
    """Issue 16: a killed worker or a restarted broker lost the preview task for good. The sweep
    finds archived sessions with a scan without previews (a while after they changed) and queues it."""
    from datetime import timedelta

    from django.utils import timezone

    from archive.models import Resource
    from prearchive.sweep import build_idle_sessions

    assert previews.sessions_missing_previews(timezone.now() + timedelta(seconds=1)) == [session_a.pk]
    assert previews.sessions_missing_previews(timezone.now() - timedelta(days=1)) == []  # too recent
    later = timezone.now() + timedelta(seconds=3600)
    with django_capture_on_commit_callbacks(execute=True):
        build_idle_sessions(now=later)
    assert Resource.objects.filter(scan__session=session_a, label="SNAPSHOTS").count() == 2
    assert previews.sessions_missing_previews(later) == []


def test_an_admin_makes_previews_again_with_a_command(session_a):
    from io import StringIO

    from django.core.management import call_command

    from archive.models import File
    from xnatlite.models import AuditEvent

    out = StringIO()
    call_command("make_previews", "--project", "A", "--missing", stdout=out)
    assert "previews made for 2 scans of 1 sessions" in out.getvalue()
    assert File.objects.filter(resource__label="SNAPSHOTS", resource__scan__session=session_a).count() == 4
    assert AuditEvent.objects.filter(
        action="archive.previews.remade", actor_name="admin:make_previews"
    ).exists()
