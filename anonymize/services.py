"""Store, version, validate and dry-run the site and project anonymization scripts (the Django side).

The site script runs on every instance at ingest with the routed labels; a project's script runs at
archive with the final labels (xnat-spec.md §6.1). No stored row means the shipped default, enabled.
Each save is validated (refused with the parse error's line and column), kept as a version and
audited with the previous text. Here too are what scripts may ask of the server (dicomedit.Services):
each subject's secret date shift, the lookup tables, and getURL within the URLs the site allows.
"""

from __future__ import annotations

import functools
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from pydicom.dataset import Dataset

from anonymize.defaults import default_project_script_text, default_site_script_text
from anonymize.dicomedit import (
    InvalidDicomFile,
    Preview,
    RecordInfo,
    Script,
    ScriptRuntimeError,
    ScriptSyntaxError,
    Services,
    parse_script,
    preview,
)
from anonymize.dicomedit.files import read_dicom
from anonymize.models import ProjectScript, ScriptVersion, SiteScript, SubjectDateShift
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
    lookup_table: str = ""  # what lookup[category, key] answers (parse_lookup_table)

    @property
    def is_default(self) -> bool:
        return self.version == 0


SUBJECT_SHIFT_FUNCTIONS = frozenset({"subjectDateShift", "shiftSubjectDates"})
MAX_SHIFT_DAYS = 365  # a subject's dates move by 1 to 365 days, earlier or later
URL_TIMEOUT_SECONDS = 5.0
URL_MAX_BYTES = 64 * 1024


def validate_script(text: str, *, site: bool = False) -> Script:
    """Parse a script, or raise InvalidScript with the line and column of the first error; also refuse
    what this script could never run: getURL while the site allows no URL, and (in the site script) the
    subject's date shift, which only the project script, run with the final subject label, has."""
    try:
        script = parse_script(text)
    except ScriptSyntaxError as exc:
        raise InvalidScript(str(exc)) from None
    if "getURL" in script.functions and not settings.SCRIPT_URL_PREFIXES:
        raise InvalidScript(
            "getURL is turned off on this site: an admin allows URLs with XNATLITE_SCRIPT_URL_PREFIXES"
        )
    if site and script.functions & SUBJECT_SHIFT_FUNCTIONS:
        raise InvalidScript(
            "subjectDateShift and shiftSubjectDates work in project scripts only: they run at archive, "
            "with the final subject label the shift belongs to"
        )
    return script


def parse_lookup_table(text: str) -> dict[tuple[str, str], str]:
    """``category/key = value`` lines (blank lines and lines starting with # or // ignored), as DicomEdit's
    lookup[category, key] reads them; InvalidScript names the first line that is not one."""
    table: dict[tuple[str, str], str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//")):
            continue
        left, equals, value = stripped.partition("=")
        category, slash, key = left.strip().partition("/")
        if not (equals and slash and category.strip() and key.strip()):
            raise InvalidScript(f"lookup table, line {number}: expected category/key = value")
        table[(category.strip(), key.strip())] = value.strip()
    return table


def _lookup(text: str) -> Callable[[str, str], str | None]:
    table = parse_lookup_table(text)
    return lambda category, key: table.get((category, key))


def url_fetcher() -> Callable[[str], str] | None:
    """getURL's fetcher, or None when the site allows no URL (XNATLITE_SCRIPT_URL_PREFIXES): a GET of a URL
    starting with an allowed prefix, at most URL_MAX_BYTES, within URL_TIMEOUT_SECONDS, each URL fetched
    once per fetcher (one per archive run, or per instance at ingest)."""
    prefixes = tuple(settings.SCRIPT_URL_PREFIXES)
    if not prefixes:
        return None
    answers: dict[str, str] = {}

    def fetch(url: str) -> str:
        if url in answers:
            return answers[url]
        if not url.startswith(prefixes) or not url.startswith(("http://", "https://")):
            raise ScriptRuntimeError(f"getURL: {url!r} is not among the URLs this site allows")
        try:
            with urllib.request.urlopen(url, timeout=URL_TIMEOUT_SECONDS) as answer:  # noqa: S310 -- checked above
                if not answer.geturl().startswith(prefixes):
                    raise ScriptRuntimeError(f"getURL: {url!r} redirected outside the allowed URLs")
                body = answer.read(URL_MAX_BYTES + 1)
        except (urllib.error.URLError, OSError) as exc:
            raise ScriptRuntimeError(f"getURL: {url!r} failed: {exc}") from None
        if len(body) > URL_MAX_BYTES:
            raise ScriptRuntimeError(f"getURL: {url!r} answered more than {URL_MAX_BYTES} bytes")
        answers[url] = body.decode("utf-8", errors="replace").strip()
        return answers[url]

    return fetch


# --- the subjects' secret date shifts ----------------------------------------------------------------------
def subject_date_shift(project: Project, subject: str) -> int:
    """The subject's secret shift in days, drawn (1 to MAX_SHIFT_DAYS, earlier or later) and stored the
    first time a script asks, then the same for every session of the subject in this project."""
    found = SubjectDateShift.objects.filter(project=project, subject=subject).values_list("days", flat=True)
    if found:
        return found[0]
    draw = secrets.randbelow(2 * MAX_SHIFT_DAYS)
    days = draw - MAX_SHIFT_DAYS if draw < MAX_SHIFT_DAYS else draw - MAX_SHIFT_DAYS + 1
    try:
        with transaction.atomic():
            SubjectDateShift.objects.create(project=project, subject=subject, days=days)
    except IntegrityError:  # another archive of the same subject drew first: its shift wins
        return SubjectDateShift.objects.get(project=project, subject=subject).days
    return days


def project_script_services(project: Project, subject: str, *, lookup_table: str | None = None) -> Services:
    """What a project's script may ask for when it runs for this subject: the subject's date shift, the
    project's lookup table (or ``lookup_table``, an unsaved edit) and getURL where the site allows it."""
    if lookup_table is None:
        row = ProjectScript.objects.filter(project=project).only("lookup_table").first()
        lookup_table = row.lookup_table if row else ""
    shift = functools.cache(lambda: subject_date_shift(project, subject))  # one query per session
    return Services(
        subject_date_shift=shift,
        lookup=_lookup(lookup_table),
        get_url=url_fetcher(),
    )


def _state(
    row: SiteScript | ProjectScript | None, default_text: str, default_deidentifying: bool
) -> ScriptState:
    if row is None:
        return ScriptState(default_text, True, default_deidentifying, 0, None, "")
    by = row.updated_by.get_username() if row.updated_by else ""
    return ScriptState(
        row.text, row.enabled, row.deidentifying, row.version, row.updated_at, by, row.lookup_table
    )


# --- the site script ------------------------------------------------------------------------------
def get_site_script() -> ScriptState:
    return _state(
        SiteScript.objects.select_related("updated_by").filter(pk=1).first(), default_site_script_text(), True
    )


@functools.lru_cache(maxsize=8)
def _compiled_site_script(
    version: int, text: str, deidentifying: bool, lookup_table: str
) -> tuple[Script, RecordInfo, Callable[[str, str], str | None]]:
    record = RecordInfo(f"XNLSITE{version}"[:16], f"xnatlite site script v{version}", deidentifying)
    return parse_script(text), record, _lookup(lookup_table)


def _load_site_script(_key: None) -> tuple[Script, RecordInfo, Callable[[str, str], str | None]] | None:
    state = get_site_script()
    if not state.enabled:
        return None
    return _compiled_site_script(state.version, state.text, state.deidentifying, state.lookup_table)


_site_script = TimedCache(_load_site_script, seconds=SITE_CACHE_SECONDS, max_entries=1)


def site_script_for_ingest() -> tuple[Script, RecordInfo] | None:
    """The compiled site script and its header record, or None when the site script is disabled.

    Ingest calls this once per instance, so the answer is kept for a couple of seconds per process
    (compiled once per version).
    """
    found = _site_script.get(None)
    return None if found is None else (found[0], found[1])


def site_script_services() -> Services:
    """What the site script may ask for at ingest: the site's lookup table and getURL where allowed."""
    found = _site_script.get(None)
    return Services(lookup=found[2] if found else None, get_url=url_fetcher())


@transaction.atomic
def save_site_script(
    text: str, *, enabled: bool, by: User, deidentifying: bool = True, lookup_table: str | None = None
) -> ScriptState:
    """Validate and store the site script (site admins only), keeping the previous text as a version;
    ``lookup_table`` None keeps the stored table."""
    permissions.require_site_admin(by)
    validate_script(text, site=True)
    parse_lookup_table(lookup_table or "")
    row = SiteScript.objects.select_for_update().filter(pk=1).first()
    previous = _state(row, default_site_script_text(), True)
    row = row or SiteScript(pk=1, version=0)
    if lookup_table is not None:
        row.lookup_table = lookup_table
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
    project: Project,
    text: str,
    *,
    enabled: bool,
    by: User,
    deidentifying: bool = False,
    lookup_table: str | None = None,
) -> ScriptState:
    """Validate and store a project's script (owners), keeping the previous text as a version;
    ``lookup_table`` None keeps the stored table."""
    permissions.require(by, "manage", project)
    validate_script(text)
    parse_lookup_table(lookup_table or "")
    row = ProjectScript.objects.select_for_update().filter(project=project).first()
    previous = _state(row, default_project_script_text(), False)
    row = row or ProjectScript(project=project, version=0)
    if lookup_table is not None:
        row.lookup_table = lookup_table
    _store(row, previous, project=project, text=text, enabled=enabled, deidentifying=deidentifying, by=by)
    return get_project_script(project)


def script_versions(project: Project | None) -> QuerySet[ScriptVersion]:
    """Saved versions of the site script (project None) or of a project's script, newest first."""
    return ScriptVersion.objects.filter(project=project).select_related("created_by").order_by("-version")


# --- dry run --------------------------------------------------------------------------------------
def dry_run_file(
    text: str,
    path: Path | str,
    variables: Mapping[str, str],
    *,
    site: bool = False,
    services: Services | None = None,
) -> Preview:
    """What the script would do to this DICOM file (its changes, and its dates before and after); the
    file is only read."""
    script = validate_script(text, site=site)
    try:
        ds: Dataset = read_dicom(path)
    except InvalidDicomFile as exc:
        raise InvalidDicom(str(exc)) from None
    if services is None:
        services = Services(get_url=url_fetcher())
    try:
        return preview(script, ds, variables, services=services)
    except ScriptRuntimeError as exc:
        raise InvalidScript(str(exc)) from None


def dry_run_project_script(
    project: Project,
    path: Path | str,
    *,
    by: User,
    text: str | None = None,
    lookup_table: str | None = None,
    subject: str = "SUBJECT",
    session: str = "SESSION",
) -> Preview:
    """Dry run of a project's script (or of `text`, an unsaved edit, with `lookup_table`) on one of its files
    (owners). A script that asks for the subject's date shift gets the one archiving will use (drawn now
    if the subject has none yet), so owners see the dates the archive will hold."""
    permissions.require(by, "manage", project)
    script_text = get_project_script(project).text if text is None else text
    services = project_script_services(project, subject, lookup_table=lookup_table)
    variables = {"project": project.id, "subject": subject, "session": session}
    return dry_run_file(script_text, path, variables, services=services)


def dry_run_site_script(
    path: Path | str, *, by: User, text: str, lookup_table: str, variables: Mapping[str, str]
) -> Preview:
    """Dry run of the site script's text (saved or not) with a lookup table, on any file (site admins)."""
    permissions.require_site_admin(by)
    services = Services(lookup=_lookup(lookup_table), get_url=url_fetcher())
    return dry_run_file(text, path, variables, site=True, services=services)
