"""Deleting a whole project (owners; XNAT lets owners `DELETE /data/projects/{id}`): its archive
(subjects, sessions, scans, resources, files), its prearchive and its roles, with an audit record.

It lives here because the prearchive is the lowest app that sees both the archive and the
prearchive. Rows go in one transaction; the project's archive and prearchive folders are moved aside
first (into the cache's trash, same filesystem), put back if the rows cannot go, and removed only
after the commit. Prearchive sessions are claimed (DELETING, a conditional update) before anything
moves, so no archiving, moving or receiving can start on them meanwhile; a busy one refuses the delete.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from archive.models import File, ImageSession, Resource, Scan, Subject
from prearchive.models import ACTIONABLE, PrearchiveFile, PrearchiveSession, Status, change_status
from xnatlite import audit, disk, layout, permissions
from xnatlite.errors import InvalidStatus
from xnatlite.models import Project, Role
from xnatlite.permissions import User


@dataclass(frozen=True)
class ProjectContents:
    """What deleting a project removes."""

    subjects: int
    sessions: int
    scans: int
    files: int
    size: int
    prearchive_sessions: int
    prearchive_files: int


def project_contents(project: Project) -> ProjectContents:
    """Counts of everything a project holds (a query per count)."""
    owners = (
        Q(project=project)
        | Q(subject__project=project)
        | Q(session__project=project)
        | Q(scan__session__project=project)
    )
    files = File.objects.filter(resource__in=Resource.objects.filter(owners).values("pk")).aggregate(
        n=Count("pk"), size=Coalesce(Sum("size"), 0)
    )
    return ProjectContents(
        subjects=Subject.objects.filter(project=project).count(),
        sessions=ImageSession.objects.filter(project=project).count(),
        scans=Scan.objects.filter(session__project=project).count(),
        files=files["n"],
        size=files["size"],
        prearchive_sessions=PrearchiveSession.objects.filter(project=project).count(),
        prearchive_files=PrearchiveFile.objects.filter(session__project=project).count(),
    )


def _project_folders(project: Project) -> list[Path]:
    return [layout.archive_project_dir(project.pk), layout.prearchive_root() / project.pk]


def _claim_prearchive(project: Project) -> list[tuple[PrearchiveSession, Status]]:
    """Mark every prearchive session of the project DELETING; InvalidStatus (nothing claimed) if one is
    busy (receiving, building, archiving...): deleting under a running operation would lose its work."""
    claimed: list[tuple[PrearchiveSession, Status]] = []
    for session in PrearchiveSession.objects.filter(project=project):
        previous = Status(session.status)
        if previous not in ACTIONABLE or not change_status(session, Status.DELETING, expected=previous):
            for done, status in claimed:
                change_status(done, status, expected=Status.DELETING)
            raise InvalidStatus(
                f"Prearchive session {session.folder_name} of {project.pk} is {session.status}; wait until "
                "it is READY (or archive or delete it), then delete the project"
            )
        claimed.append((session, previous))
    return claimed


def delete_project(project: Project, *, by: User) -> ProjectContents:
    """Remove a project with everything it holds, archive and prearchive, rows and folders (owners and
    site admins). Returns what went; the audit log keeps the project's past events."""
    permissions.require(by, "manage", project)
    contents = project_contents(project)
    claimed = _claim_prearchive(project)
    moved: list[tuple[Path, Path]] = []
    trash_root = layout.cache_root() / "deleted" / uuid.uuid4().hex
    try:
        with transaction.atomic():
            for i, folder in enumerate(_project_folders(project)):
                trash = disk.move_aside(folder, trash_root / str(i))
                if trash is not None:
                    moved.append((folder, trash))
            audit.record(
                by,
                "archive.project.deleted",
                project,
                subjects=contents.subjects,
                sessions=contents.sessions,
                scans=contents.scans,
                files=contents.files,
                size=contents.size,
                prearchive_sessions=contents.prearchive_sessions,
                prearchive_files=contents.prearchive_files,
            )
            Group.objects.filter(name__in=[permissions.role_group_name(project.pk, r) for r in Role]).delete()
            project.delete()
            transaction.on_commit(lambda: shutil.rmtree(trash_root, ignore_errors=True))
    except BaseException:
        for folder, trash in reversed(moved):
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.replace(trash, folder)
        for session, status in claimed:
            change_status(session, status, expected=Status.DELETING)
        raise
    return contents
