"""Reads of the prearchive shared by the pages and the REST API (`/data/prearchive/...`, §3.2)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import pydicom
from django.db.models import Count, Min, Q, QuerySet, Sum

from archive.models import ImageSession
from prearchive import routing, rules
from prearchive.models import PrearchiveFile, PrearchiveSession
from xnatlite import layout, permissions
from xnatlite.errors import NotFound
from xnatlite.models import AuditEvent

UNASSIGNED = "Unassigned"


def prearchive_listing(
    user: permissions.User | None, project_ids: Iterable[str] | None = None
) -> QuerySet[PrearchiveSession]:
    """Rows the user may see: projects where they may use the prearchive (owners, members), plus
    Unassigned for site admins (xnat-spec.md §2.4) and the Unassigned sessions each account uploaded
    (permissions.unassigned_scope); optionally only the given projects (`Unassigned` names the rows
    without a project). Newest first, projects joined: a constant number of queries."""
    visible = Q(project__in=permissions.projects_for(user, "prearchive").values("pk"))
    scope = permissions.unassigned_scope(user)
    if scope == "all":
        visible |= Q(project__isnull=True)
    elif scope == "own":
        visible |= Q(project__isnull=True, uploaded_by=getattr(user, "pk", None))
    rows = PrearchiveSession.objects.filter(visible)
    if project_ids is not None:
        wanted = set(project_ids)
        chosen = Q(project_id__in=wanted - {UNASSIGNED})
        if UNASSIGNED in wanted:
            chosen |= Q(project__isnull=True)
        rows = rows.filter(chosen)
    return rows.select_related("project").order_by("-created_at", "-id")


def listing_version(rows: QuerySet[PrearchiveSession]) -> str:
    """A short digest of what a prearchive listing shows (rows, statuses, counts): the page asks for it
    every few seconds and reloads its table only when it changed (static/refresh.js)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for values in rows.order_by("pk").values_list("pk", "status", "file_count", "last_modified"):
        digest.update(repr(values).encode())
    return digest.hexdigest()[:16]


def get_prearchive_session(
    user: permissions.User | None, project: str, timestamp: str, folder: str
) -> PrearchiveSession:
    """The session at `/prearchive/projects/{project}/{timestamp}/{folder}`; NotFound unless the user
    may use that project's prearchive (`project` = `Unassigned` for rows without a project)."""
    project_id = None if project == UNASSIGNED else project
    session = (
        PrearchiveSession.objects.select_related("project")
        .filter(project_id=project_id, timestamp=timestamp, folder_name=folder)
        .first()
    )
    if session is None or not permissions.can(user, "prearchive", session):
        raise NotFound(f"No prearchive session {project}/{timestamp}/{folder}")
    return session


def unassigned_data_answers_to(name: str) -> bool:
    """Whether data waiting in Unassigned would go to a project with this ID or alias: a value its
    routing looked at (Study Description, Accession Number, `Project:`, a rule's result), or its
    session or subject label; compared without case, as project IDs are. xnatlite/projects.py asks
    before a new ID or alias (prearchive/apps.py registers this)."""
    waiting = PrearchiveSession.objects.filter(project__isnull=True)
    for session in waiting.filter(routing_values="").iterator():
        _record_routing_values(session)  # a session received before the values were kept
    return waiting.filter(
        Q(routing_values__icontains=f"\n{name}\n")
        | Q(label__iexact=name)
        | Q(subject_label__iexact=name)
        | Q(folder_name__iexact=name)
    ).exists()


def _record_routing_values(session: PrearchiveSession) -> None:
    """Read the values routing looks at from the session's first file, once, and keep them."""
    values: list[str] = []
    file = session_files(session).first()
    if file is not None:
        try:
            ds = pydicom.dcmread(file.absolute_path, stop_before_pixels=True, specific_tags=ROUTING_KEYWORDS)
            values = routing.project_candidates(ds, rules.rule_set(None))
        except (OSError, ValueError, pydicom.errors.InvalidDicomError):
            pass
    PrearchiveSession.objects.filter(pk=session.pk).update(
        routing_values=PrearchiveSession.routing_text(values)
    )


ROUTING_KEYWORDS = [
    "StudyDescription",
    "AccessionNumber",
    "PatientComments",
    "StudyComments",
    "AdditionalPatientHistory",
    "PatientName",
    "PatientID",
]


def session_files(session: PrearchiveSession) -> QuerySet[PrearchiveFile]:
    """The session's files, by scan then instance number."""
    return session.files.order_by("scan_id", "instance_number", "id")


# The default site script keeps these so a person can review the session (DESIGN.md "Anonymization").
KEPT_FIELDS = ("PatientName", "PatientID", "StudyDescription", "AccessionNumber")


def kept_fields(session: PrearchiveSession) -> tuple[dict[str, str], str]:
    """The four fields the site script keeps, from the session's first instance; or an error."""
    file = session_files(session).first()
    if file is None:
        return {}, "The session has no files"
    try:
        ds = pydicom.dcmread(file.absolute_path, stop_before_pixels=True, specific_tags=list(KEPT_FIELDS))
    except (OSError, ValueError, pydicom.errors.InvalidDicomError) as exc:
        return {}, f"Cannot read {Path(file.path).name}: {exc}"
    return {keyword: str(ds.get(keyword, "") or "") for keyword in KEPT_FIELDS}, ""


def archived_as(session: PrearchiveSession, project_id: str | None = None) -> ImageSession | None:
    """Where a prearchive session went: the archived session its archive made or merged into, named by
    that archive's audit record; None while it is still in the prearchive (or when it went nowhere).
    `project_id`: the project it was archived into, when another than its own."""
    if PrearchiveSession.objects.filter(pk=session.pk).exists():
        return None
    event = (
        AuditEvent.objects.filter(
            action="archive.session.archived",
            project_id=project_id or session.project_id or "",
            details__prearchive=session.url,
        )
        .order_by("-timestamp", "-id")
        .first()
    )
    if event is None:
        return None
    return ImageSession.objects.select_related("subject").filter(accession_id=event.object_id).first()


def scan_summary(session: PrearchiveSession) -> list[dict]:
    """Per scan: ID, series description, modality, files, frames, bytes (one grouped query), in
    the one scan order (xnatlite/layout.py)."""
    scans = (
        session_files(session)
        .order_by()
        .values("scan_id")
        .annotate(
            series_description=Min("series_description"),
            modality=Min("modality"),
            files=Count("id"),
            frames=Sum("frames"),
            size=Sum("size"),
        )
    )
    return sorted(scans, key=lambda scan: layout.scan_order(scan["scan_id"]))
