"""Store, version, validate and dry-run the site and project anonymization scripts (the Django side).

The site script runs on every instance at ingest with the routed labels; a project's script runs at
archive with the final labels (xnat-spec.md §6.1). No stored row means the shipped default, enabled.
Each save is validated (refused with the parse error's line and column), kept as a version and
audited with the previous text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from pydicom.dataset import Dataset

from anonymize.defaults import default_project_script_text, default_site_script_text
from anonymize.dicomedit import (
    Change,
    InvalidDicomFile,
    RecordInfo,
    Script,
    ScriptSyntaxError,
    dry_run,
    parse_script,
)
from anonymize.dicomedit.files import read_dicom
from anonymize.models import ProjectScript, ScriptVersion, SiteScript
from xnatlite import audit, permissions
from xnatlite.cache import TimedCache
from xnatlite.errors import InvalidDicom, InvalidScript
from xnatlite.models import Project

log = logging.getLogger(__name__)

SITE_CACHE_SECONDS = 2.0  # ingest asks per instance; a saved change is live within this time


@dataclass(frozen=True)
class ScriptState:
    """A script as users see it: its text, whether it runs, and where it came from."""

    text: str
    enabled: bool
    deidentifying: bool
    version: int  # 0 for the shipped default that was never saved
    updated_at: datetime | None
    updated_by: str

    @property
    def is_default(self) -> bool:
        return self.version == 0


def validate_script(text: str) -> Script:
    """Parse a script, or raise InvalidScript with the line and column of the first error."""
    try:
        return parse_script(text)
    except ScriptSyntaxError as exc:
        raise InvalidScript(str(exc)) from None


def _state(
    row: SiteScript | ProjectScript | None, default_text: str, default_deidentifying: bool
) -> ScriptState:
    if row is None:
        return ScriptState(default_text, True, default_deidentifying, 0, None, "")
    by = row.updated_by.get_username() if row.updated_by else ""
    return ScriptState(row.text, row.enabled, row.deidentifying, row.version, row.updated_at, by)


# --- the site script ------------------------------------------------------------------------------
def get_site_script() -> ScriptState:
    return _state(
        SiteScript.objects.select_related("updated_by").filter(pk=1).first(), default_site_script_text(), True
    )


@functools.lru_cache(maxsize=8)
def _compiled_site_script(version: int, text: str, deidentifying: bool) -> tuple[Script, RecordInfo]:
    record = RecordInfo(f"XNLSITE{version}"[:16], f"xnatlite site script v{version}", deidentifying)
    return validate_script(text), record


def _load_site_script(_key: None) -> tuple[Script, RecordInfo] | None:
    state = get_site_script()
    return _compiled_site_script(state.version, state.text, state.deidentifying) if state.enabled else None


_site_script = TimedCache(_load_site_script, seconds=SITE_CACHE_SECONDS, max_entries=1)


def site_script_for_ingest() -> tuple[Script, RecordInfo] | None:
    """The compiled site script and its header record, or None when the site script is disabled.

    Ingest calls this once per instance, so the answer is kept for a couple of seconds per process
    (compiled once per version).
    """
    return _site_script.get(None)


@transaction.atomic
def save_site_script(text: str, *, enabled: bool, by: User, deidentifying: bool = True) -> ScriptState:
    """Validate and store the site script (site admins only), keeping the previous text as a version."""
    permissions.require_site_admin(by)
    validate_script(text)
    row = SiteScript.objects.select_for_update().filter(pk=1).first()
    previous = _state(row, default_site_script_text(), True)
    row = row or SiteScript(pk=1, version=0)
    _store(row, previous, project=None, text=text, enabled=enabled, deidentifying=deidentifying, by=by)
    _site_script.forget()  # this process sees the new script at once, others within seconds
    return get_site_script()


def _store(
    row: SiteScript | ProjectScript,
    previous: ScriptState,
    *,
    project: Project | None,
    text: str,
    enabled: bool,
    deidentifying: bool,
    by: User,
) -> None:
    """Save the script as its next version, keep that version, and audit it with the previous text."""
    row.text, row.enabled, row.deidentifying, row.updated_by = text, enabled, deidentifying, by
    row.version = (row.version or 0) + 1
    row.save()
    ScriptVersion.objects.create(
        project=project,
        version=row.version,
        text=text,
        enabled=enabled,
        deidentifying=deidentifying,
        created_by=by,
    )
    audit.record(
        by,
        "anonymize.project_script.saved" if project else "anonymize.site_script.saved",
        project or f"site script v{row.version}",
        version=row.version,
        enabled=enabled,
        previous_version=previous.version,
        previous_text=previous.text,
    )


# --- project scripts ------------------------------------------------------------------------------
def get_project_script(project: Project) -> ScriptState:
    row = ProjectScript.objects.select_related("updated_by").filter(project=project).first()
    return _state(row, default_project_script_text(), False)


def project_script_for_archive(project: Project) -> tuple[Script, RecordInfo] | None:
    """The compiled project script and its header record, or None when the project turned it off."""
    state = get_project_script(project)
    if not state.enabled:
        return None
    # Code Value is SH (16 characters at most): the project is named in the Code Meaning (LO).
    record = RecordInfo(
        f"XNLPROJ{state.version}"[:16],
        f"xnatlite project {project.id} script v{state.version}",
        state.deidentifying,
    )
    return validate_script(state.text), record


@transaction.atomic
def save_project_script(
    project: Project, text: str, *, enabled: bool, by: User, deidentifying: bool = False
) -> ScriptState:
    """Validate and store a project's script (owners), keeping the previous text as a version."""
    permissions.require(by, "manage", project)
    validate_script(text)
    row = ProjectScript.objects.select_for_update().filter(project=project).first()
    previous = _state(row, default_project_script_text(), False)
    row = row or ProjectScript(project=project, version=0)
    _store(row, previous, project=project, text=text, enabled=enabled, deidentifying=deidentifying, by=by)
    return get_project_script(project)


def script_versions(project: Project | None) -> QuerySet[ScriptVersion]:
    """Saved versions of the site script (project None) or of a project's script, newest first."""
    return ScriptVersion.objects.filter(project=project).select_related("created_by").order_by("-version")


# --- dry run --------------------------------------------------------------------------------------
def dry_run_file(text: str, path: Path | str, variables: Mapping[str, str]) -> list[Change]:
    """What the script would change in this DICOM file; the file is only read."""
    script = validate_script(text)
    try:
        ds: Dataset = read_dicom(path)
    except InvalidDicomFile as exc:
        raise InvalidDicom(str(exc)) from None
    return dry_run(script, ds, variables)


def dry_run_project_script(
    project: Project,
    path: Path | str,
    *,
    by: User,
    text: str | None = None,
    subject: str = "SUBJECT",
    session: str = "SESSION",
) -> list[Change]:
    """Dry run of a project's script (or of `text`, an unsaved edit) on one of its files (owners)."""
    permissions.require(by, "manage", project)
    script_text = get_project_script(project).text if text is None else text
    return dry_run_file(script_text, path, {"project": project.id, "subject": subject, "session": session})
