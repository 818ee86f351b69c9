"""Subjects: found, created (with a new accession ID), described, relabelled (their folder follows),
deleted with their sessions and folders."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from archive.models import Subject
from archive.services import folders
from archive.services.accession import next_accession_id
from archive.services.fields import SUBJECT_EDITABLE, check_fields, update_fields
from xnatlite import audit, layout, permissions
from xnatlite.errors import ArchiveConflict, InvalidInput
from xnatlite.models import Project
from xnatlite.permissions import User

SUBJECT_FIELDS = ("group", "src", "gender", "yob", "handedness", "note")


def find_subject(project: Project, label_or_id: str) -> Subject | None:
    """A subject by label (case-insensitive) or accession ID, as XNAT looks it up (xnat-spec.md §1.3)."""
    return (
        Subject.objects.filter(project=project, label__iexact=label_or_id).first()
        or Subject.objects.filter(project=project, accession_id=label_or_id).first()
    )


@transaction.atomic
def create_subject(project: Project, label: str, *, by: User, **fields: Any) -> Subject:
    """A new subject with a new accession ID (members and owners; archiving's system actors)."""
    permissions.require(by, "create", project)
    layout.check_label(label, "Subject label")
    check_fields(fields, SUBJECT_FIELDS, "subject")
    if Subject.objects.filter(project=project, label__iexact=label).exists():
        raise InvalidInput(f"Subject '{label}' already exists in project {project.id}")
    subject = Subject.objects.create(
        project=project, label=label, accession_id=next_accession_id("S"), **fields
    )
    audit.record(by, "archive.subject.created", subject)
    return subject


@transaction.atomic
def update_subject(subject: Subject, *, by: User, **fields: Any) -> Subject:
    """Change a subject's group, source, demographics or note (members and owners)."""
    return update_fields(subject, "subject", SUBJECT_EDITABLE, by, fields)


def relabel_subject(subject: Subject, label: str, *, by: User) -> Subject:
    """Give a subject a new label; its resource folder follows (members and owners). Edges call
    archiving/relabel.py, which then writes the new label into the DICOM headers too."""
    permissions.require(by, "edit", subject)
    layout.check_label(label, "Subject label")
    if label == subject.label:
        return subject
    if Subject.objects.filter(project=subject.project, label__iexact=label).exclude(pk=subject.pk).exists():
        raise ArchiveConflict(f"Subject '{label}' already exists in project {subject.project_id}")
    base = layout.archive_project_dir(subject.project_id) / "subjects"
    return folders.relabel(
        subject, label, base / subject.label, base / label, "archive.subject.relabelled", by
    )


def delete_subject(subject: Subject, *, by: User) -> None:
    """Remove a subject with all its sessions, resources and folders (owners)."""
    permissions.require(by, "delete", subject)
    paths = [layout.archive_session_dir(subject.project_id, s.label) for s in subject.sessions.all()]
    paths.append(layout.archive_project_dir(subject.project_id) / "subjects" / subject.label)
    folders.delete_with_folders(subject, paths, "archive.subject.deleted", by, sessions=len(paths) - 1)
