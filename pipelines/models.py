"""Pipelines (issue 17): commands in XNAT Container Service's format, their wrappers, which projects
enabled them, and the runs with their status history.

A run's status changes through `change_status` only, which checks `TRANSITIONS` and updates with a
condition on the old status, so the worker, a cancel and the sweep never both win.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from archive.models import ImageSession, Resource, Scan
from pipelines.documents import CommandDocument, WrapperDocument, parse_command
from xnatlite.models import Project


class Command(models.Model):
    """A command document (JSON) a site admin added; its wrappers are parsed from it on save."""

    name = models.CharField(max_length=255)
    version = models.CharField(max_length=64, blank=True)
    document = models.JSONField(help_text="The command in XNAT Container Service's JSON format")
    enabled = models.BooleanField(default=True)
    builtin = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "version"]
        constraints = [models.UniqueConstraint("name", "version", name="command_name_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()

    @property
    def parsed(self) -> CommandDocument:
        return parse_command(self.document)


class Wrapper(models.Model):
    """One entry of the command's `xnat` list: where it launches, what it files."""

    command = models.ForeignKey(Command, related_name="wrappers", on_delete=models.CASCADE)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    level = models.CharField(max_length=16, choices=[("session", "session"), ("scan", "scan")])
    enabled = models.BooleanField(default=True, help_text="Enabled site-wide")
    enabled_by_default = models.BooleanField(
        default=False, help_text="Enabled in every project that has not turned it off"
    )

    class Meta:
        ordering = ["command__name", "name"]
        constraints = [models.UniqueConstraint("command", "name", name="wrapper_command_name")]

    def __str__(self) -> str:
        return f"{self.command.name}/{self.name}"

    @property
    def parsed(self) -> WrapperDocument:
        return self.command.parsed.wrapper(self.name)


class ProjectWrapper(models.Model):
    """A project owner's choice for a wrapper: enabled or not in that project."""

    project = models.ForeignKey(Project, related_name="pipeline_wrappers", on_delete=models.CASCADE)
    wrapper = models.ForeignKey(Wrapper, related_name="projects", on_delete=models.CASCADE)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint("project", "wrapper", name="project_wrapper_unique")]

    def __str__(self) -> str:
        return f"{self.wrapper} in {self.project_id}: {'enabled' if self.enabled else 'disabled'}"


class RunStatus(models.TextChoices):
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETE = "Complete"
    FAILED = "Failed"
    KILLED = "Killed"
    CANCELLED = "Cancelled"


FINISHED = frozenset({RunStatus.COMPLETE, RunStatus.FAILED, RunStatus.KILLED, RunStatus.CANCELLED})
TRANSITIONS: dict[str, frozenset[str]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset({RunStatus.COMPLETE, RunStatus.FAILED, RunStatus.KILLED}),
}


class Launch(models.TextChoices):
    UI = "ui"
    REST = "rest"
    AUTOMATION = "automation"


class PipelineRun(models.Model):
    """One launch of a wrapper on a session or scan, and what became of it."""

    command = models.ForeignKey(Command, related_name="runs", on_delete=models.PROTECT)
    command_version = models.CharField(max_length=64, blank=True)
    wrapper = models.ForeignKey(Wrapper, related_name="runs", on_delete=models.PROTECT)
    project = models.ForeignKey(Project, related_name="pipeline_runs", on_delete=models.CASCADE)
    session = models.ForeignKey(ImageSession, related_name="pipeline_runs", on_delete=models.CASCADE)
    scan = models.ForeignKey(
        Scan, null=True, blank=True, related_name="pipeline_runs", on_delete=models.CASCADE
    )
    params = models.JSONField(default=dict, help_text="The input values asked for at launch")
    inputs = models.JSONField(default=dict, help_text="Every command input as resolved")
    command_line = models.TextField(blank=True, help_text="The resolved command line")
    launched_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    launched_via = models.CharField(max_length=16, choices=Launch.choices, default=Launch.UI)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    history = models.JSONField(default=list, help_text="[{status, at, message}]")
    message = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    exit_code = models.IntegerField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the process running it")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    log_path = models.CharField(max_length=2048, blank=True, help_text="relative to the data root")
    outputs = models.ManyToManyField(Resource, related_name="pipeline_runs", blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.wrapper}"

    @property
    def target(self) -> ImageSession | Scan:
        return self.scan or self.session

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def change_status(run: PipelineRun, status: str, message: str = "", **fields: object) -> bool:
    """Move `run` to `status` if the table allows it from its current status and nobody moved it first;
    records the change in its history. False when refused or lost."""
    old = run.status
    if status not in TRANSITIONS.get(old, ()):
        return False
    now = timezone.now()
    history = [*run.history, {"status": status, "at": now.isoformat(), "message": message}]
    values: dict[str, object] = {"status": status, "history": history, **fields}
    if message:
        values["message"] = message
    if status == RunStatus.RUNNING:
        values["started_at"] = now
    if status in FINISHED:
        values["finished_at"] = now
    if not PipelineRun.objects.filter(pk=run.pk, status=old).update(**values):
        return False
    for name, value in values.items():
        setattr(run, name, value)
    return True
