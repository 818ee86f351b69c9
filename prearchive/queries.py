"""Reads of the prearchive shared by the pages and the REST API (`/data/prearchive/...`, §3.2)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db.models import Count, Min, Q, QuerySet, Sum

from prearchive.models import PrearchiveFile, PrearchiveSession
from xnatlite import permissions
from xnatlite.errors import NotFound

UNASSIGNED = "Unassigned"


def prearchive_listing(user, project_ids: Iterable[str] | None = None) -> QuerySet[PrearchiveSession]:
    """Rows the user may see: projects where they may use the prearchive (owners, members), plus
    Unassigned for site admins (xnat-spec.md §2.4); optionally only the given projects (`Unassigned`
    names the rows without a project). Newest first, projects joined: a constant number of queries."""
    visible = Q(project__in=permissions.projects_for(user, "prearchive").values("pk"))
    if permissions.is_site_admin(user):
        visible |= Q(project__isnull=True)
    rows = PrearchiveSession.objects.filter(visible)
    if project_ids is not None:
        wanted = set(project_ids)
        chosen = Q(project_id__in=wanted - {UNASSIGNED})
        if UNASSIGNED in wanted:
            chosen |= Q(project__isnull=True)
        rows = rows.filter(chosen)
    return rows.select_related("project").order_by("-created_at", "-id")


def get_prearchive_session(user, project: str, timestamp: str, folder: str) -> PrearchiveSession:
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


def session_files(session: PrearchiveSession) -> QuerySet[PrearchiveFile]:
    """The session's files, by scan then instance number."""
    return session.files.order_by("scan_id", "instance_number", "id")


def scan_order(scan_id: str) -> tuple[int, str]:
    """The order prearchive scans are shown in: by the number the ID starts with (2 before 10), IDs
    without one last, then by ID."""
    number = re.match(r"\d+", scan_id)
    return (int(number.group()) if number else 1 << 30, scan_id)


def scan_summary(session: PrearchiveSession) -> list[dict]:
    """Per scan: ID, series description, modality, files, frames, bytes (one grouped query), in
    `scan_order`."""
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
    return sorted(scans, key=lambda scan: scan_order(scan["scan_id"]))
