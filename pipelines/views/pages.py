"""The pipelines' pages: launching from the session page (owners and members), the run page (status,
log refreshing by itself while running, cancel, re-run) for anyone who may read the project."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from archive.models import ImageSession
from archive.views.common import page
from pipelines import queries, services
from pipelines.models import Launch, Wrapper
from xnatlite import layout, permissions
from xnatlite.errors import Forbidden, NotFound, XnatliteError

LOG_TAIL = 256 * 1024  # the end of a long log is what a person reads


def _session(request: HttpRequest, project_id: str, session: str) -> ImageSession:
    project = permissions.get_project(request.user, project_id, "read")
    found = ImageSession.objects.filter(project=project, label=session).select_related("project").first()
    if found is None:
        raise NotFound(f"Session '{session}' not found")
    return found


@page
@require_POST
def launch(request: HttpRequest, project_id: str, session: str) -> HttpResponse:
    """Launch a wrapper from the session page's form."""
    found = _session(request, project_id, session)
    permissions.require(request.user, "edit", found)
    wrapper = get_object_or_404(Wrapper, pk=request.POST.get("wrapper", "0") or 0)
    target = found
    if wrapper.level == "scan":
        target = found.scans.filter(scan_id=request.POST.get("scan", "")).first()  # type: ignore[assignment]
        if target is None:
            messages.error(request, "Choose a scan")
            return redirect("session-detail", project_id=project_id, session=session)
    inputs = wrapper.command.parsed.inputs
    params = {i.name: request.POST.get(f"input-{i.name}", "") for i in inputs}
    for spec in inputs:  # an unticked checkbox sends nothing: false
        if spec.type == "boolean" and not params[spec.name]:
            params[spec.name] = "false"
    try:
        run = services.launch(target, wrapper, params=params, by=request.user, via=Launch.UI)
    except XnatliteError as exc:
        if isinstance(exc, (NotFound, Forbidden)):
            raise
        messages.error(request, exc.message)
        return redirect("session-detail", project_id=project_id, session=session)
    return redirect("pipeline-run", run_id=run.pk)


def _log_tail(path: str) -> str:
    if not path:
        return ""
    try:
        with open(layout.absolute_path(path), "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - LOG_TAIL))
            return log.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


@page
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = queries.get_run(request.user, run_id)
    return render(
        request,
        "pipelines/run.html",
        {
            "run": run,
            "project": run.project,
            "log": _log_tail(run.log_path),
            "can_edit": permissions.can(request.user, "edit", run.project),
            "outputs": run.outputs.all(),
        },
    )


@page
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = queries.get_run(request.user, run_id)
    try:
        services.cancel(run, by=request.user)
    except XnatliteError as exc:
        if isinstance(exc, (NotFound, Forbidden)):
            raise
        messages.error(request, exc.message)
    return redirect("pipeline-run", run_id=run.pk)


@page
@require_POST
def run_again(request: HttpRequest, run_id: int) -> HttpResponse:
    run = queries.get_run(request.user, run_id)
    try:
        again = services.rerun(run, by=request.user, via=Launch.UI)
    except XnatliteError as exc:
        if isinstance(exc, (NotFound, Forbidden)):
            raise
        messages.error(request, exc.message)
        return redirect("pipeline-run", run_id=run.pk)
    return redirect("pipeline-run", run_id=again.pk)
