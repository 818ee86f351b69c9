"""Pipelines' writes: adding commands (site admins: a command is code the workers run), enabling
wrappers per project, launching a wrapper on a session or scan, cancelling, re-running, and failing
runs whose worker died.

A launch resolves everything before the run is queued (inputs, the folders mounts read, the command
line) and stores it on the run, so the run page shows exactly what will run and a refused launch
leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from archive.models import ImageSession, Resource, Scan
from pipelines import matchers
from pipelines.commandline import fill_template, input_values
from pipelines.documents import CommandDocument, ObjectInput, WrapperDocument, parse_command
from pipelines.models import Command, Launch, PipelineRun, ProjectWrapper, RunStatus, Wrapper, change_status
from xnatlite import audit, jobs, layout, permissions
from xnatlite.errors import ArchiveConflict, Forbidden, InvalidInput, InvalidStatus, NotFound
from xnatlite.models import Project
from xnatlite.permissions import User

log = logging.getLogger(__name__)

RUN_TASK = "pipelines.tasks.run_pipeline"
BUILTIN = Path(__file__).parent / "builtin"  # commands that come with xnatlite, enabled by default
STALE_AFTER = timedelta(minutes=5)  # a Running run whose worker has not beaten for this long died


@transaction.atomic
def save_command(document: str | dict, *, by: User, builtin: bool = False) -> Command:
    """Add a command, or replace the document of the one with its name and version (site admins)."""
    if not permissions.acts_as_site_admin(by):
        raise Forbidden("Only site administrators may add commands: a command is code the workers run")
    parsed = parse_command(document)
    command, created = Command.objects.update_or_create(
        name=parsed.name,
        version=parsed.version,
        defaults={"document": json.loads(document) if isinstance(document, str) else document},
    )
    if builtin and not command.builtin:
        Command.objects.filter(pk=command.pk).update(builtin=True)
        command.builtin = True
    sync_wrappers(command, enabled_by_default=builtin)
    audit.record(by, "pipelines.command.saved", None, command=str(command), created=created)
    return command


def load_builtin_commands() -> list[Command]:
    """Add or update the built-in commands (at every migrate)."""
    by = permissions.command_actor("migrate")
    return [save_command(path.read_text(), by=by, builtin=True) for path in sorted(BUILTIN.glob("*.json"))]


def sync_wrappers(command: Command, *, enabled_by_default: bool = False) -> None:
    """Rows for the document's wrappers: new ones added, changed ones updated, gone ones removed (or
    disabled when runs refer to them)."""
    parsed = command.parsed
    names = set()
    for doc in parsed.xnat:
        names.add(doc.name)
        wrapper, created = Wrapper.objects.get_or_create(
            command=command,
            name=doc.name,
            defaults={
                "level": doc.level,
                "description": doc.description,
                "enabled_by_default": enabled_by_default,
            },
        )
        if not created:
            Wrapper.objects.filter(pk=wrapper.pk).update(level=doc.level, description=doc.description)
    for gone in command.wrappers.exclude(name__in=names):
        if gone.runs.exists():
            Wrapper.objects.filter(pk=gone.pk).update(enabled=False)
        else:
            gone.delete()


def enabled_in(wrapper: Wrapper, project: Project) -> bool:
    """Whether the wrapper may be launched in the project: enabled site-wide (with its command) and by
    the project, or by default."""
    if not (wrapper.enabled and wrapper.command.enabled):
        return False
    choice = ProjectWrapper.objects.filter(project=project, wrapper=wrapper).first()
    return choice.enabled if choice is not None else wrapper.enabled_by_default


@transaction.atomic
def set_project_wrapper(project: Project, wrapper: Wrapper, *, enabled: bool, by: User) -> None:
    """Enable or disable a wrapper in a project (owners)."""
    permissions.require(by, "manage", project)
    ProjectWrapper.objects.update_or_create(project=project, wrapper=wrapper, defaults={"enabled": enabled})
    audit.record(
        by,
        "pipelines.wrapper.enabled" if enabled else "pipelines.wrapper.disabled",
        project,
        wrapper=str(wrapper),
    )


# --- launching --------------------------------------------------------------------------------------
Target = ImageSession | Scan


def _object_json(obj: Target | Resource) -> dict[str, Any]:
    if isinstance(obj, Scan):
        return matchers.scan_json(obj)
    if isinstance(obj, ImageSession):
        return matchers.session_json(obj)
    return matchers.resource_json(obj)


def _folder(obj: Target | Resource) -> str:
    if isinstance(obj, Scan):
        path = layout.archive_scan_dir(obj.session.project_id, obj.session.label, obj.scan_id)
    elif isinstance(obj, ImageSession):
        path = layout.archive_session_dir(obj.project_id, obj.label)
    else:
        path = obj.folder
    return layout.relative_path(path)


def _value(obj: Target | Resource, prop: str | None) -> str:
    data = _object_json(obj)
    return str(data.get(prop or "id", ""))


def _ref(obj: Target | Resource) -> dict[str, Any]:
    kind = "scan" if isinstance(obj, Scan) else "session" if isinstance(obj, ImageSession) else "resource"
    return {"kind": kind, "pk": obj.pk}


def fits(wrapper: WrapperDocument, target: Target) -> bool:
    """Whether the wrapper launches on this object: its level and its external input's matcher."""
    level = "scan" if isinstance(target, Scan) else "session"
    if wrapper.level != level:
        return False
    return matchers.matches(wrapper.external_inputs[0].matcher, _object_json(target))


def _derive(parent: Target | Resource, kind: str, matcher: str | None, name: str) -> Target | Resource:
    children: list[Any]
    if kind == "Resource":
        children = list(parent.resources.all()) if isinstance(parent, (Scan, ImageSession)) else []
    elif kind == "Scan" and isinstance(parent, ImageSession):
        children = list(parent.scans.order_by("sort_key", "scan_id"))
    elif kind == "Session" and isinstance(parent, Scan):
        children = [parent.session]
    else:
        raise InvalidInput(f"Input '{name}': cannot derive a {kind} from {type(parent).__name__}")
    for child in children:
        if matchers.matches(matcher, _object_json(child)):
            return child
    raise InvalidInput(f"Input '{name}': no {kind.lower()} matching {matcher or 'anything'} on {parent}")


def resolve(
    command: CommandDocument, wrapper: WrapperDocument, target: Target, params: dict[str, str]
) -> dict:
    """Wrapper inputs to objects, mounts to folders (relative to the data root) and command inputs to
    values; InvalidInput naming what does not fit."""
    if not fits(wrapper, target):
        raise InvalidInput(f"{wrapper.name} does not launch on {target}")
    objects: dict[str, Target | Resource] = {wrapper.external_inputs[0].name: target}
    given = {k: v for k, v in params.items() if k not in objects}
    mounts: dict[str, str] = {}
    for item in wrapper.external_inputs[1:]:
        if item.required:
            raise InvalidInput(f"Input '{item.name}': only one external input is supported yet")
    external = wrapper.external_inputs[0]
    feeds: list[tuple[ObjectInput, Target | Resource | None, str | None]] = [(external, target, None)]
    for derived in wrapper.derived_inputs:
        parent = objects[derived.derived_from]
        if derived.type in ("Resource", "Scan", "Session"):
            objects[derived.name] = _derive(parent, derived.type, derived.matcher, derived.name)
            feeds.append((derived, objects[derived.name], derived.derived_from_property))
        else:
            feeds.append((derived, parent, derived.derived_from_property))
    for feed, obj, prop in feeds:
        assert obj is not None
        if feed.provides_value_for_command_input:
            given.setdefault(feed.provides_value_for_command_input, _value(obj, prop))
        if feed.provides_files_for_command_mount:
            mounts[feed.provides_files_for_command_mount] = _folder(obj)
    values = input_values(command, given)
    for mount in command.mounts:
        if not mount.writable and mount.name not in mounts:
            raise InvalidInput(f"Mount '{mount.name}' gets no files from any input")
    for handler in wrapper.output_handlers:
        owner = objects[handler.as_a_child_of]
        if isinstance(owner, (Scan, ImageSession)) and owner.resources.filter(label=handler.label).exists():
            raise ArchiveConflict(
                f"Resource {handler.label} already exists on {owner}; delete it to run again"
            )
    return {
        "values": values,
        "mounts": mounts,
        "objects": {name: _ref(obj) for name, obj in objects.items()},
        "command_line": fill_template(command, values),
    }


def launch(
    target: Target, wrapper: Wrapper, *, params: dict[str, str], by: User, via: str = Launch.UI
) -> PipelineRun:
    """Queue a run of `wrapper` on a session or scan (owners and members of its project)."""
    session = target.session if isinstance(target, Scan) else target
    permissions.require(by, "read", session)
    permissions.require(by, "edit", session)
    if not enabled_in(wrapper, session.project):
        raise NotFound(f"Pipeline {wrapper.name} is not enabled in project {session.project_id}")
    command = wrapper.command.parsed
    resolved = resolve(command, command.wrapper(wrapper.name), target, params)
    with transaction.atomic():
        run = PipelineRun.objects.create(
            command=wrapper.command,
            command_version=wrapper.command.version,
            wrapper=wrapper,
            project=session.project,
            session=session,
            scan=target if isinstance(target, Scan) else None,
            params=params,
            inputs={k: v for k, v in resolved.items() if k != "command_line"},
            command_line=resolved["command_line"],
            launched_by=by,  # type: ignore[misc]
            launched_via=via,
            timeout_seconds=settings.PIPELINE_TIMEOUT_SECONDS,
            history=[{"status": RunStatus.QUEUED, "at": timezone.now().isoformat(), "message": ""}],
        )
        run.log_path = layout.relative_path(run_folder(run) / "log.txt")
        run.save(update_fields=["log_path"])
        audit.record(by, "pipelines.run.launched", session, run=run.pk, wrapper=str(wrapper), via=via)
        jobs.enqueue(RUN_TASK, run.pk, background=True)
    return run


def run_folder(run: PipelineRun) -> Any:
    """The run's scratch folder: its log and the folders of its writable mounts."""
    return layout.cache_root() / "pipelines" / str(run.pk)


def rerun(run: PipelineRun, *, by: User, via: str = Launch.UI) -> PipelineRun:
    """Launch the same wrapper on the same object with the same parameters."""
    return launch(run.target, run.wrapper, params=run.params, by=by, via=via)


def cancel(run: PipelineRun, *, by: User) -> PipelineRun:
    """Cancel a queued run, or ask its worker to kill a running one (owners, members)."""
    permissions.require(by, "edit", run.session)
    if run.status == RunStatus.QUEUED and change_status(run, RunStatus.CANCELLED, f"Cancelled by {by}"):
        audit.record(by, "pipelines.run.cancelled", run.session, run=run.pk)
        return run
    run.refresh_from_db()
    if run.status != RunStatus.RUNNING:
        raise InvalidStatus(f"Run {run.pk} is {run.status}: nothing to cancel")
    PipelineRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.cancel_requested = True
    audit.record(by, "pipelines.run.cancelled", run.session, run=run.pk)
    return run


def fail_stale_runs(now: datetime | None = None) -> int:
    """Runs left Running by a worker that stopped beating (killed, machine lost) become Failed; the
    count. Called by the periodic sweep."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    failed = 0
    for run in PipelineRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff):
        if change_status(run, RunStatus.FAILED, f"The worker {run.worker} stopped; the run was lost"):
            failed += 1
            log.warning("pipeline run %s lost with worker %s", run.pk, run.worker)
    return failed
