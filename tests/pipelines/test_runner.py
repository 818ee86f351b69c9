"""Runs on a worker: dcm2niix on a generated MR series files a NIFTI resource that nibabel opens; a
failing program files nothing and keeps its log; the time limit and a cancel kill the program."""

import threading

import nibabel
import pytest
from django.test import override_settings

from archive.models import Resource
from pipelines import runner, services
from pipelines.models import PipelineRun, RunStatus
from tests.pipelines.conftest import COLS, ROWS, SLICES
from tests.waiting import wait_for
from xnatlite import layout
from xnatlite.models import AuditEvent


def test_dcm2niix_files_nifti_with_bids_sidecars(mr_session, dcm2niix, alice):
    scan = mr_session.scans.get(scan_id="1")
    run = services.launch(scan, dcm2niix, params={}, by=alice)
    assert run.status == RunStatus.QUEUED
    assert run.command_line == "dcm2niix -b y -f %s_%d -o /output /input"
    runner.execute(run.pk)
    run.refresh_from_db()
    log = layout.absolute_path(run.log_path).read_text()
    assert run.status == RunStatus.COMPLETE, log
    assert run.exit_code == 0
    assert [h["status"] for h in run.history] == ["Queued", "Running", "Complete"]
    nifti = Resource.objects.get(scan=scan, label="NIFTI")
    assert list(run.outputs.all()) == [nifti]
    assert list(nifti.pipeline_runs.all()) == [run]  # provenance: the resource links to its run
    names = sorted(f.name for f in nifti.files.all())
    assert any(n.endswith(".json") for n in names), names
    images = [f for f in nifti.files.all() if f.name.endswith((".nii", ".nii.gz"))]
    assert images
    for file in images:
        image = nibabel.load(file.absolute_path)
        assert image.shape == (COLS, ROWS, SLICES)
    assert (layout.absolute_path(nifti.files.first().path)).parent == nifti.folder
    assert not (services.run_folder(run) / "mounts").exists()  # the scratch is gone, the log stays
    assert "dcm2niix" in log and "[exit code 0]" in log
    assert AuditEvent.objects.filter(action="pipelines.run.finished").exists()


def test_the_input_is_read_in_place(mr_session, dcm2niix, alice):
    scan = mr_session.scans.get(scan_id="1")
    run = services.launch(scan, dcm2niix, params={}, by=alice)
    mount = run.inputs["mounts"]["dicom-in"]
    assert layout.absolute_path(mount) == scan.resources.get(label="DICOM").folder


def program(wrapper, line):
    """Make the wrapper's command run `line` instead (a program installed on the worker)."""
    command = wrapper.command
    command.document = {**command.document, "command-line": line}
    command.save()


def test_a_failing_program_files_nothing_and_keeps_its_log(mr_session, dcm2niix, alice):
    program(dcm2niix, "echo converting /input; echo broken >&2; exit 3")
    scan = mr_session.scans.get(scan_id="1")
    run = runner.execute(services.launch(scan, dcm2niix, params={}, by=alice).pk)
    run.refresh_from_db()
    assert (run.status, run.exit_code) == (RunStatus.FAILED, 3)
    assert not Resource.objects.filter(label="NIFTI").exists()
    assert not list(scan.resources.get(label="DICOM").folder.parent.glob("NIFTI"))
    log = layout.absolute_path(run.log_path).read_text()
    assert "converting " + str(layout.absolute_path(run.inputs["mounts"]["dicom-in"])) in log
    assert "broken" in log


def test_a_required_output_missing_fails_the_run(mr_session, dcm2niix, alice):
    program(dcm2niix, "true")
    run = runner.execute(services.launch(mr_session.scans.get(), dcm2niix, params={}, by=alice).pk)
    assert run.status == RunStatus.FAILED
    assert "required output 'nifti' has no files" in run.message


@override_settings(PIPELINE_TIMEOUT_SECONDS=1)
def test_the_time_limit_kills_the_program_and_its_children(mr_session, dcm2niix, alice):
    program(dcm2niix, "sleep 300 & echo started; wait")
    run = runner.execute(services.launch(mr_session.scans.get(), dcm2niix, params={}, by=alice).pk)
    assert run.status == RunStatus.KILLED
    assert "time limit" in run.message
    assert not Resource.objects.filter(label="NIFTI").exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_kills_a_running_program(mr_session, dcm2niix, alice):
    program(dcm2niix, "echo started; sleep 300")
    run = services.launch(mr_session.scans.get(), dcm2niix, params={}, by=alice)  # queued in a thread
    log = layout.absolute_path(run.log_path)
    wait_for(lambda: log.exists() and "started" in log.read_text(), what="the program to start")
    services.cancel(PipelineRun.objects.get(pk=run.pk), by=alice)
    wait_for(lambda: PipelineRun.objects.get(pk=run.pk).finished, what="the run to end")
    run.refresh_from_db()
    assert run.status == RunStatus.KILLED and "cancelled" in run.message
    wait_for(
        lambda: not any(t.name.startswith("task pipelines") for t in threading.enumerate()),
        what="the run's thread to end",
    )


def test_a_queued_run_is_cancelled_at_once(mr_session, dcm2niix, bob):
    run = services.launch(mr_session.scans.get(), dcm2niix, params={}, by=bob)
    services.cancel(run, by=bob)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert runner.execute(run.pk).status == RunStatus.CANCELLED  # the worker leaves it alone


def test_a_run_whose_worker_died_is_failed_by_the_sweep(mr_session, dcm2niix, alice):
    from datetime import timedelta

    from django.utils import timezone

    from pipelines.models import change_status

    run = services.launch(mr_session.scans.get(), dcm2niix, params={}, by=alice)
    change_status(run, RunStatus.RUNNING, worker="gone:1", heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.fail_stale_runs() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "gone:1" in run.message
