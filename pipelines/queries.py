"""Pipelines' reads: the wrappers that launch on a session or its scans, and runs as pages list them."""

from __future__ import annotations

from django.db.models import QuerySet

from archive.models import ImageSession, Scan
from pipelines import services
from pipelines.models import PipelineRun, Wrapper
from xnatlite import permissions
from xnatlite.errors import NotFound
from xnatlite.permissions import User


def launchable(session: ImageSession) -> list[tuple[Wrapper, list[Scan | ImageSession]]]:
    """The wrappers enabled in the session's project, each with the objects of the session it fits."""
    found: list[tuple[Wrapper, list[Scan | ImageSession]]] = []
    scans = list(session.scans.prefetch_related("resources").order_by("sort_key", "scan_id"))
    for wrapper in Wrapper.objects.select_related("command").filter(enabled=True, command__enabled=True):
        if not services.enabled_in(wrapper, session.project):
            continue
        parsed = wrapper.parsed
        candidates: list[Scan | ImageSession] = list(scans) if wrapper.level == "scan" else [session]
        fitting = [obj for obj in candidates if services.fits(parsed, obj)]
        if fitting:
            found.append((wrapper, fitting))
    return found


def session_runs(session: ImageSession) -> QuerySet[PipelineRun]:
    return PipelineRun.objects.filter(session=session).select_related(
        "wrapper", "command", "scan", "launched_by"
    )


def runs_for(user: User, project_id: str | None = None) -> QuerySet[PipelineRun]:
    """The runs of the projects the user may read (XNAT's command history)."""
    qs = PipelineRun.objects.filter(project__in=permissions.projects_for(user, "read"))
    if project_id:
        qs = qs.filter(project_id=project_id)
    return qs.select_related("wrapper", "command", "session", "scan", "launched_by")


def get_run(user: User, run_id: int | str) -> PipelineRun:
    """A run the user may read; NotFound for any other, as if it did not exist."""
    try:
        run = runs_for(user).get(pk=int(run_id))
    except (PipelineRun.DoesNotExist, ValueError):
        raise NotFound(f"Run '{run_id}' not found") from None
    return run


def get_wrapper(command_id: str, wrapper: str) -> Wrapper:
    """A command's wrapper by its id or name."""
    qs = (
        Wrapper.objects.select_related("command").filter(command_id=command_id)
        if command_id.isdigit()
        else None
    )
    if qs is None:
        raise NotFound(f"Command '{command_id}' not found")
    found = qs.filter(pk=int(wrapper)).first() if wrapper.isdigit() else qs.filter(name=wrapper).first()
    if found is None:
        raise NotFound(f"Wrapper '{wrapper}' not found")
    return found
