"""Image sessions made by hand (archiving makes the others): created with a new accession ID,
described, relabelled (their folder is renamed in one step), deleted with their scans and folder."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from archive.models import ImageSession, SessionType, Subject
from archive.services import folders
from archive.services.accession import next_accession_id
from archive.services.fields import SESSION_EDITABLE, check_fields, update_fields
from xnatlite import audit, layout, permissions
from xnatlite.errors import ArchiveConflict, InvalidInput
from xnatlite.permissions import User

SESSION_FIELDS = ("date", "time", "modality", "visit_id", "session_type", "note", "scanner", "operator")


@transaction.atomic
def create_session(
    subject: Subject,
    label: str,
    *,
    by: User,
    xsi_type: str = SessionType.MR,
    **fields: Any,
) -> ImageSession:
    """An empty image session with a new accession ID (members and owners); no folder until files come."""
    permissions.require(by, "create", subject.project)
    layout.check_label(label, "Session label")
    if xsi_type not in SessionType.values:
        raise InvalidInput(f"Unknown session type '{xsi_type}'; one of {', '.join(SessionType.values)}")
    check_fields(fields, SESSION_FIELDS, "session")
    if ImageSession.objects.filter(project=subject.project, label__iexact=label).exists():
        raise ArchiveConflict(f"Session '{label}' already exists in project {subject.project_id}")
    default_modality = "" if xsi_type == SessionType.OTHER else SessionType(xsi_type).label.split("/")[0]
    session = ImageSession(
        project=subject.project,
        subject=subject,
        label=label,
        accession_id=next_accession_id("E"),
        xsi_type=xsi_type,
        modality=fields.pop("modality", "") or default_modality,
    )
    session.full_clean(exclude=["accession_id"], validate_unique=False, validate_constraints=False)
    session.save()
    if fields:
        update_session(session, by=by, **fields)
    audit.record(by, "archive.session.created", session, subject=subject.label, xsi_type=xsi_type)
    return session


@transaction.atomic
def update_session(session: ImageSession, *, by: User, **fields: Any) -> ImageSession:
    """Change a session's visit, session type, note, date, time or scanner details (members and owners)."""
    return update_fields(session, "session", SESSION_EDITABLE, by, fields)


def relabel_session(session: ImageSession, label: str, *, by: User) -> ImageSession:
    """Give a session a new label; its folder is renamed in one step (members and owners). Edges call
    archiving/relabel.py, which then writes the new label into the DICOM headers too."""
    permissions.require(by, "edit", session)
    layout.check_label(label, "Session label")
    if label == session.label:
        return session
    if (
        ImageSession.objects.filter(project=session.project, label__iexact=label)
        .exclude(pk=session.pk)
        .exists()
    ):
        raise ArchiveConflict(f"Session '{label}' already exists in project {session.project_id}")
    old = layout.archive_session_dir(session.project_id, session.label)
    new = layout.archive_session_dir(session.project_id, label)
    return folders.relabel(session, label, old, new, "archive.session.relabelled", by)


def delete_session(session: ImageSession, *, by: User) -> None:
    """Remove a session with its scans, resources and folder (owners)."""
    permissions.require(by, "delete", session)
    folder = layout.archive_session_dir(session.project_id, session.label)
    folders.delete_with_folders(
        session, [folder], "archive.session.deleted", by, subject=session.subject.label
    )
