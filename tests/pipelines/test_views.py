"""Launching from the session page and over REST (as XNAT's Container Service takes it), the run page,
and who may do what: owners and members launch, collaborators see runs only, strangers nothing."""

import nibabel
import pytest

from archive.models import Resource
from pipelines import runner, services
from pipelines.models import Launch, PipelineRun, RunStatus
from tests.pipelines.conftest import COLS, ROWS, SLICES
from tests.waiting import wait_for


def nifti_shapes(scan):
    nifti = Resource.objects.get(scan=scan, label="NIFTI")
    return [nibabel.load(f.absolute_path).shape for f in nifti.files.all() if f.name.endswith(".nii")]


@pytest.mark.django_db(transaction=True)
def test_rest_launch_runs_dcm2niix_in_the_background(mr_session, dcm2niix, bob, as_user):
    response = as_user(bob).post(
        f"/xapi/commands/{dcm2niix.command_id}/wrappers/dcm2niix-scan/launch",
        {"scan": f"/archive/experiments/{mr_session.accession_id}/scans/1", "bids": "true"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success" and body["wrapper-id"] == dcm2niix.pk
    run = PipelineRun.objects.get(pk=body["id"])
    assert run.launched_via == Launch.REST and run.launched_by == bob
    wait_for(lambda: PipelineRun.objects.get(pk=run.pk).finished, what="the run to finish")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETE, run.message
    assert nifti_shapes(mr_session.scans.get()) == [(COLS, ROWS, SLICES)]
    listing = as_user(bob).get("/xapi/containers").json()
    assert [(c["id"], c["status"]) for c in listing] == [(run.pk, "Complete")]
    assert "dcm2niix" in as_user(bob).get(f"/xapi/containers/{run.pk}/logs/stdout").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_session_page_form_launches_and_the_run_page_shows_it(mr_session, dcm2niix, alice, as_user):
    client = as_user(alice)
    page = client.get(f"/projects/A/sessions/{mr_session.label}/").content.decode()
    assert "Pipelines" in page and f'name="wrapper" value="{dcm2niix.pk}"' in page
    response = client.post(
        f"/projects/A/sessions/{mr_session.label}/pipelines/launch/",
        {"wrapper": dcm2niix.pk, "scan": "1", "input-bids": "true"},
    )
    run = PipelineRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/pipelines/runs/{run.pk}/"
    assert run.launched_via == Launch.UI and run.inputs["values"]["bids"] == "true"
    wait_for(lambda: PipelineRun.objects.get(pk=run.pk).finished, what="the run to finish")
    assert PipelineRun.objects.get(pk=run.pk).status == RunStatus.COMPLETE
    assert nifti_shapes(mr_session.scans.get()) == [(COLS, ROWS, SLICES)]
    shown = client.get(f"/pipelines/runs/{run.pk}/").content.decode()
    assert "Complete" in shown and "[exit code 0]" in shown and 'data-refresh="busy"' not in shown
    assert f"/projects/A/sessions/{mr_session.label}/" in shown


def test_a_running_run_page_refreshes_itself(mr_session, dcm2niix, alice, as_user):
    run = services.launch(mr_session.scans.get(), dcm2niix, params={}, by=alice)
    shown = as_user(alice).get(f"/pipelines/runs/{run.pk}/").content.decode()
    assert 'data-refresh="busy"' in shown and "refresh.js" in shown and "<script>" not in shown


def test_rest_launch_answers_failure_as_the_container_service(mr_session, dcm2niix, alice, as_user):
    url = f"/xapi/commands/{dcm2niix.command_id}/wrappers/dcm2niix-scan/launch"
    missing = as_user(alice).post(url, {})
    assert missing.status_code == 400 and missing.json()["status"] == "failure"
    bad = as_user(alice).post(
        url, {"scan": f"/archive/experiments/{mr_session.accession_id}/scans/1", "bids": "maybe"}
    )
    assert bad.status_code == 400 and "Input 'bids' is true or false" in bad.json()["message"]
    assert not PipelineRun.objects.exists()


@pytest.mark.parametrize(
    ("who", "launch", "page", "run_page", "listed"),
    [
        ("alice", 200, True, 200, 1),
        ("bob", 200, True, 200, 1),
        ("carol", 403, False, 200, 1),
        ("dave", 404, None, 404, 0),
        ("root", 200, True, 200, 1),
    ],
)
def test_role_matrix(mr_session, dcm2niix, cast, as_user, who, launch, page, run_page, listed):
    """Owner and member launch; the collaborator sees runs only; the stranger gets 404 everywhere."""
    existing = services.launch(mr_session.scans.get(), dcm2niix, params={}, by=cast["alice"])
    runner.execute(existing.pk)
    client = as_user(cast[who])
    Resource.objects.filter(label="NIFTI").delete()  # so a launch is not refused for an existing output
    response = client.post(
        f"/xapi/commands/{dcm2niix.command_id}/wrappers/{dcm2niix.pk}/launch",
        {"scan": f"/archive/experiments/{mr_session.accession_id}/scans/1"},
    )
    assert response.status_code == launch, response.content
    session_page = client.get(f"/projects/A/sessions/{mr_session.label}/")
    if page is None:
        assert session_page.status_code == 404
    else:
        html = session_page.content.decode()
        assert (f'name="wrapper" value="{dcm2niix.pk}"' in html) is page
        assert f"/pipelines/runs/{existing.pk}/" in html
    assert client.get(f"/pipelines/runs/{existing.pk}/").status_code == run_page
    assert client.post(f"/pipelines/runs/{existing.pk}/again/").status_code in (
        (302,) if page else (403, 404)
    )
    assert len([c for c in client.get("/xapi/containers").json() if c["id"] == existing.pk]) == listed
    form = client.post(
        f"/projects/A/sessions/{mr_session.label}/pipelines/launch/", {"wrapper": dcm2niix.pk, "scan": "1"}
    )
    assert form.status_code == (302 if page else 404 if page is None else 403)


def test_an_existing_output_refuses_the_launch(mr_session, dcm2niix, alice):
    runner.execute(services.launch(mr_session.scans.get(), dcm2niix, params={}, by=alice).pk)
    from xnatlite.errors import ArchiveConflict

    with pytest.raises(ArchiveConflict, match="Resource NIFTI already exists"):
        services.launch(mr_session.scans.get(), dcm2niix, params={}, by=alice)
