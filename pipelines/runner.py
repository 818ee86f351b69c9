"""Running one pipeline run on a worker: mounts bound (inputs read in place from the archive, never
copied; writable mounts in the run's scratch folder under the cache), the program started in its own
process group with a wall-clock limit (and, for `xnatlite-program`, an address-space limit), its
stdout and stderr streamed to the run's log, and only on success its outputs filed as resources
(archive/services/resources.py: atomic, catalogued, MD5'd) linked to the run.

While it runs, the worker beats on the run's row (`heartbeat_at`) and looks for a cancel; the sweep
fails a Running run whose worker stopped beating (pipelines/services.py `fail_stale_runs`).
"""

from __future__ import annotations

import logging
import os
import resource as rlimits
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from archive.models import ImageSession, Resource, Scan
from archive.services import folders
from archive.services.resources import create_resource, store_file
from pipelines import services
from pipelines.commandline import BoundMount, container_argv, program_argv
from pipelines.documents import PROGRAM, CommandDocument, WrapperDocument
from pipelines.models import PipelineRun, RunStatus, change_status
from xnatlite import audit, heartbeats, layout
from xnatlite.errors import XnatliteError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # how often the worker looks at its program, the clock and the run's row
BEAT_SECONDS = 10.0


def execute(run_id: int) -> PipelineRun:
    """Run a queued run to its end (Complete, Failed, Killed); a run no longer queued is left alone."""
    run = PipelineRun.objects.select_related("command", "wrapper", "session", "scan", "launched_by").get(
        pk=run_id
    )
    folder = services.run_folder(run)
    folder.mkdir(parents=True, exist_ok=True)
    log_file = layout.absolute_path(run.log_path) if run.log_path else folder / "log.txt"
    if not change_status(run, RunStatus.RUNNING, worker=heartbeats.me(), heartbeat_at=timezone.now()):
        return run
    command = run.command.parsed
    wrapper = command.wrapper(run.wrapper.name)
    with open(log_file, "ab") as out:
        try:
            mounts = bind_mounts(run, command, folder)
            argv = argv_for(run, command, mounts)
            out.write(f"$ {run.command_line}\n".encode())
            out.flush()
            code, ended = _run_program(run, argv, out, limit_memory=command.type == PROGRAM, cwd=folder)
        except Exception as exc:
            log.exception("pipeline run %s could not start", run.pk)
            out.write(f"\nThe run could not start: {exc}\n".encode())
            change_status(run, RunStatus.FAILED, f"Could not start: {exc}")
            _remove_mounts(folder)
            return run
        out.write(f"\n[exit code {code}{'; ' + ended if ended else ''}]\n".encode())
    if ended:
        change_status(run, RunStatus.KILLED, ended, exit_code=code)
    elif code != 0:
        change_status(run, RunStatus.FAILED, f"The program exited with code {code}", exit_code=code)
    else:
        try:
            filed = file_outputs(run, command, wrapper, mounts)
        except Exception as exc:
            if not isinstance(exc, XnatliteError):
                log.exception("filing the outputs of pipeline run %s failed", run.pk)
            with open(log_file, "a") as out_text:
                out_text.write(f"Filing the outputs failed: {exc}\n")
            change_status(run, RunStatus.FAILED, f"Filing the outputs failed: {exc}", exit_code=code)
        else:
            run.outputs.set(filed)
            change_status(run, RunStatus.COMPLETE, exit_code=code)
    _remove_mounts(folder)
    audit.record(run.launched_by, "pipelines.run.finished", run.session, run=run.pk, status=run.status)
    return run


def bind_mounts(run: PipelineRun, command: CommandDocument, folder: Path) -> list[BoundMount]:
    """Each mount's folder: an input's straight from the archive, a writable one new in the scratch."""
    bound = []
    for mount in command.mounts:
        source = run.inputs.get("mounts", {}).get(mount.name)
        if mount.writable:
            host = folder / "mounts" / mount.name
            host.mkdir(parents=True, exist_ok=True)
        elif source:
            host = layout.absolute_path(source)
        else:
            raise XnatliteError(f"Mount '{mount.name}' gets no files")
        bound.append(BoundMount(mount.name, mount.path, host, mount.writable))
    return bound


def argv_for(run: PipelineRun, command: CommandDocument, mounts: list[BoundMount]) -> list[str]:
    if command.type == PROGRAM:
        return program_argv(command, run.command_line, mounts)
    return container_argv(command, run.command_line, mounts, name=f"xnatlite-run-{run.pk}")


def _limit_memory(megabytes: int) -> Callable[[], None]:
    def apply() -> None:
        limit = megabytes * 1024 * 1024
        rlimits.setrlimit(rlimits.RLIMIT_AS, (limit, limit))

    return apply


def _environment() -> dict[str, str]:
    """The program's environment: nothing of the server's (no secrets), a PATH that finds programs
    installed with the server (dcm2niix)."""
    return {"PATH": settings.PIPELINE_PATH, "LANG": "C.UTF-8", "HOME": "/tmp"}


def _run_program(
    run: PipelineRun, argv: list[str], out: BinaryIO, *, limit_memory: bool, cwd: Path
) -> tuple[int, str]:
    """Run argv to its end; (exit code, why it was ended early or '')."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=_environment(),
        start_new_session=True,  # its own process group: a kill reaches everything it started
        preexec_fn=_limit_memory(settings.PIPELINE_MEMORY_MB) if limit_memory else None,
    )
    deadline = time.monotonic() + (run.timeout_seconds or settings.PIPELINE_TIMEOUT_SECONDS)
    next_beat = time.monotonic() + BEAT_SECONDS
    ended = ""
    while True:
        try:
            return proc.wait(timeout=POLL_SECONDS), ended
        except subprocess.TimeoutExpired:
            pass
        except BaseException:  # the worker itself is stopping: the program goes with it
            _kill_group(proc)
            raise
        if ended:
            continue
        now = time.monotonic()
        if now >= deadline:
            ended = f"Killed after the time limit of {run.timeout_seconds} s"
        elif PipelineRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
            ended = "Killed: cancelled"
        if ended:
            _kill_group(proc)
        elif now >= next_beat:
            PipelineRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
            next_beat = now + BEAT_SECONDS


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _remove_mounts(folder: Path) -> None:
    shutil.rmtree(folder / "mounts", ignore_errors=True)


def _output_files(mount: BoundMount, path: str, glob: str) -> list[Path]:
    base = mount.host / path if path else mount.host
    if not base.resolve().is_relative_to(mount.host.resolve()):
        raise XnatliteError(f"Output path '{path}' leaves its mount")
    if base.is_file():
        return [base]
    files = base.glob(glob) if glob else base.rglob("*")
    return sorted(p for p in files if p.is_file() and not p.is_symlink())


def file_outputs(
    run: PipelineRun, command: CommandDocument, wrapper: WrapperDocument, mounts: list[BoundMount]
) -> list[Resource]:
    """File each handled output as a new resource on its object, all or none."""
    by_mount = {m.name: m for m in mounts}
    outputs = {o.name: o for o in command.outputs}
    objects = run.inputs.get("objects", {})
    plan = []
    for handler in wrapper.output_handlers:
        output = outputs[handler.accepts_command_output]
        files = _output_files(by_mount[output.mount], output.path, output.glob)
        if not files:
            if output.required:
                raise XnatliteError(f"The required output '{output.name}' has no files")
            continue
        ref = objects[handler.as_a_child_of]
        owner: Scan | ImageSession = (Scan if ref["kind"] == "scan" else ImageSession).objects.get(
            pk=ref["pk"]
        )
        plan.append((handler, owner, by_mount[output.mount], files))
    created: list[Resource] = []
    try:
        with transaction.atomic():
            for handler, owner, mount, files in plan:
                resource = create_resource(
                    owner,
                    handler.label,
                    by=run.launched_by,
                    format=handler.format,
                    content=handler.content,
                    tags=",".join(handler.tags),
                    description=f"Made by pipeline run {run.pk} ({run.command} {run.wrapper.name})",
                )
                created.append(resource)
                for path in files:
                    with open(path, "rb") as stream:
                        store_file(
                            resource, path.relative_to(mount.host).as_posix(), stream, by=run.launched_by
                        )
    except BaseException:
        for resource in created:  # the rows rolled back; their files go too
            trash = folders.move_to_trash(Path(resource.folder))
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
        raise
    return created
