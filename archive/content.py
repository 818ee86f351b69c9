"""Creating and deleting archive content together with its files on disk (the REST API and the UI).

Sessions, scans, resources and files made by hand (not by archiving from the prearchive), their
deletion, and relabelling of subjects and sessions, which renames folders. Files are streamed to a
temporary name inside their resource folder, hashed on the way, and renamed into place; folders are
moved aside before their rows are deleted, so a failure leaves rows and files agreeing. A scan
resource's catalog (archive/catalogs.py) is rewritten after its files change.
Descriptive fields change through archive/editing.py.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr

from archive import catalogs, services, unixgroups
from archive.models import File, ImageSession, Resource, Scan, SessionType, Subject
from xnatlite import audit, layout, permissions, uploads
from xnatlite.errors import ArchiveConflict, InvalidInput, NotFound
from xnatlite.models import Project
from xnatlite.permissions import User

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
Owner = Project | Subject | ImageSession | Scan
SESSION_FIELDS = ("date", "time", "modality", "visit_id", "session_type", "note", "scanner", "operator")
SCAN_FIELDS = ("type", "series_description", "quality", "note", "modality", "frames", "condition")


def _check_fields(fields: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise InvalidInput(f"Unknown {what} field(s): {', '.join(sorted(unknown))}")


# --- sessions and scans ---------------------------------------------------------------------------
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
    _check_fields(fields, SESSION_FIELDS, "session")
    if ImageSession.objects.filter(project=subject.project, label__iexact=label).exists():
        raise ArchiveConflict(f"Session '{label}' already exists in project {subject.project_id}")
    default_modality = "" if xsi_type == SessionType.OTHER else SessionType(xsi_type).label.split("/")[0]
    session = ImageSession(
        project=subject.project,
        subject=subject,
        label=label,
        accession_id=services.next_accession_id("E"),
        xsi_type=xsi_type,
        modality=fields.pop("modality", "") or default_modality,
    )
    session.full_clean(exclude=["accession_id"], validate_unique=False, validate_constraints=False)
    session.save()
    if fields:
        from archive import editing

        editing.update_session(session, by=by, **fields)
    audit.record(by, "archive.session.created", session, subject=subject.label, xsi_type=xsi_type)
    return session


@transaction.atomic
def create_scan(
    session: ImageSession,
    scan_id: str,
    *,
    by: User,
    xsi_type: str = "xnat:mrScanData",
    **fields: Any,
) -> Scan:
    """An empty scan in a session (members and owners); its ID becomes a folder name."""
    permissions.require(by, "create", session)
    layout.scan_folder_name(scan_id)
    if not re.fullmatch(r"xnat:\w+ScanData", xsi_type or ""):
        raise InvalidInput(f"Unknown scan type '{xsi_type}'; for example xnat:mrScanData")
    _check_fields(fields, SCAN_FIELDS, "scan")
    if Scan.objects.filter(session=session, scan_id=scan_id).exists():
        raise ArchiveConflict(f"Scan '{scan_id}' already exists in session {session.label}")
    scan = Scan.objects.create(
        session=session,
        scan_id=scan_id,
        xsi_type=xsi_type,
        modality=fields.pop("modality", "") or session.modality,
        frames=int(fields.pop("frames", 0) or 0),
        sort_key=layout.scan_sort_key(scan_id),
    )
    if fields:
        from archive import editing

        editing.update_scan(scan, by=by, **fields)
    audit.record(by, "archive.scan.created", scan, session=session.label, scan_id=scan_id)
    return scan


# --- resources and files --------------------------------------------------------------------------
@transaction.atomic
def create_resource(
    owner: Owner,
    label: str,
    *,
    by: User,
    format: str = "",
    content: str = "",
    tags: str = "",
    description: str = "",
) -> Resource:
    """A new, empty resource (folder of files) on a project, subject, session or scan."""
    permissions.require(by, "edit", owner)
    layout.check_label(label, "Resource label")
    field = Resource.owner_field(owner)
    if Resource.objects.filter(**{field: owner, "label": label}).exists():
        raise ArchiveConflict(f"Resource '{label}' already exists on {owner}")
    resource = Resource.objects.create(
        **{field: owner},
        label=label,
        format=format[:64],
        content=content[:64],
        tags=tags[:255],
        description=description,
    )
    audit.record(by, "archive.resource.created", resource, owner=str(owner), label=label)
    return resource


def _write_stream(stream: BinaryIO, folder: Path) -> tuple[Path, int, str]:
    """Stream into a temporary file inside `folder`; (temp path, size, MD5). Removed on failure."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".upload-{uuid.uuid4().hex}.part"  # a dot name: never a stored file name
    digest, size = hashlib.md5(usedforsecurity=False), 0
    try:
        with open(temp, "wb") as out:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, size, digest.hexdigest()


def _store_one(
    resource: Resource,
    name: str,
    stream: BinaryIO,
    *,
    overwrite: bool,
    format: str,
    content: str,
    tags: str,
) -> tuple[File, bool]:
    """Write one file into a resource and upsert its row; (file, replaced an existing one)."""
    layout.check_file_name(name)
    if resource.scan_id and catalogs.is_catalog(name):
        raise InvalidInput(f"'{name}' is the name of the scan's catalog file; choose another name")
    folder = Path(resource.folder)
    target = folder / name
    if not target.resolve().is_relative_to(folder.resolve()):
        raise InvalidInput(f"File name '{name}' leaves its resource")
    existing = File.objects.filter(resource=resource, name=name).first()
    if (existing is not None or target.exists()) and not overwrite:
        raise ArchiveConflict(
            f"File '{name}' already exists in resource {resource.label}; use overwrite=true"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    temp, size, md5 = _write_stream(stream, target.parent)
    try:
        with transaction.atomic():
            file = existing or File(resource=resource, name=name)
            file.path = layout.relative_path(target)
            file.size, file.md5 = size, md5
            file.format, file.content, file.tags = format[:64], content[:64], tags[:255]
            file.save()
            os.replace(temp, target)  # last step inside the transaction: row and file appear together
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return file, existing is not None


def _top_folder(resource: Resource) -> Path:
    """The folder of the object the resource hangs on, inside the project's archive folder."""
    if resource.scan_id or resource.session_id:
        session = resource.scan.session if resource.scan_id else resource.session
        return layout.archive_session_dir(session.project_id, session.label)
    return Path(resource.folder).parent


def _apply_project_group(resource: Resource) -> None:
    """With XNATLITE_PROJECT_GROUPS, new folders and files get the project's group and modes (no
    read access for others), like everything archiving writes (archive/unixgroups.py)."""
    project = permissions.project_of(resource)
    gid = unixgroups.project_gid(project)
    if gid is not None:
        unixgroups.prepare_project_folder(project)
        unixgroups.apply_to_tree(_top_folder(resource), gid)


def store_file(
    resource: Resource,
    name: str,
    stream: BinaryIO,
    *,
    by: User,
    overwrite: bool = False,
    format: str = "",
    content: str = "",
    tags: str = "",
    extract: bool = False,
) -> list[File]:
    """Put a file into a resource (members and owners); with `extract`, unpack a zip/tar into it.

    An existing file is an ArchiveConflict unless `overwrite`. The bytes are streamed to disk with
    their size and MD5 computed on the way, so memory stays flat whatever the size.
    """
    permissions.require(by, "edit", resource)
    if not extract:
        file, replaced = _store_one(
            resource, name, stream, overwrite=overwrite, format=format, content=content, tags=tags
        )
        catalogs.write_resource_catalog(resource)
        _apply_project_group(resource)
        audit.record(by, "archive.file.stored", resource, file=name, size=file.size, replaced=replaced)
        return [file]

    stored: list[File] = []
    try:
        with uploads.upload_folder() as workdir:
            archive_path = workdir / "upload"
            uploads.save_stream(stream, archive_path)
            base = str(Path(name).parent) if name and "/" in name else ""
            for member in uploads.iter_archive(archive_path, workdir):
                member_name = f"{base}/{member.name}" if base and base != "." else member.name
                with open(member.path, "rb") as src:
                    file, _ = _store_one(
                        resource,
                        member_name,
                        src,
                        overwrite=overwrite,
                        format=format,
                        content=content,
                        tags=tags,
                    )
                stored.append(file)
    except BaseException:
        # Members stored before a refused one stay (as uploads.py does for DICOM): catalog and audit them.
        if stored:
            _extracted(resource, name, stored, by)
        raise
    _extracted(resource, name, stored, by)
    return stored


def _extracted(resource: Resource, name: str, stored: list[File], by: User) -> None:
    catalogs.write_resource_catalog(resource)
    _apply_project_group(resource)
    audit.record(by, "archive.file.extracted", resource, archive=name, files=len(stored))


# --- deleting -------------------------------------------------------------------------------------
def _move_aside(folder: Path) -> Path | None:
    """Move a folder to the cache's trash so rows can be deleted before the bytes are; None if absent."""
    if not folder.exists():
        return None
    trash = layout.cache_root() / "deleted" / uuid.uuid4().hex
    trash.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, trash)
    return trash


@transaction.atomic
def _delete_with_folders(obj: Any, folders: list[Path], action: str, by, **details: Any) -> None:
    """Delete rows and folders together: folders go aside first, come back if the rows cannot go."""
    moved: list[tuple[Path, Path]] = []
    try:
        for folder in folders:
            trash = _move_aside(folder)
            if trash is not None:
                moved.append((folder, trash))
        audit.record(by, action, obj, **details)
        obj.delete()
    except BaseException:
        for folder, trash in reversed(moved):
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.replace(trash, folder)
        raise
    transaction.on_commit(lambda: [shutil.rmtree(trash, ignore_errors=True) for _, trash in moved])


def delete_file(file: File, *, by: User) -> None:
    """Remove one file from a resource (owners: deleting archived data)."""
    permissions.require(by, "delete", file)
    path = file.absolute_path
    with transaction.atomic():
        trash = layout.cache_root() / "deleted" / uuid.uuid4().hex
        moved = False
        if path.exists():
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, trash)
            moved = True
        try:
            audit.record(by, "archive.file.deleted", file.resource, file=file.name, size=file.size)
            file.delete()
        except BaseException:
            if moved:
                os.replace(trash, path)
            raise
        if moved:
            transaction.on_commit(lambda: trash.unlink(missing_ok=True))
        catalogs.write_resource_catalog(file.resource)


def delete_resource(resource: Resource, *, by: User) -> None:
    """Remove a resource, its files and its folder (owners)."""
    permissions.require(by, "delete", resource)
    _delete_with_folders(
        resource, [Path(resource.folder)], "archive.resource.deleted", by, owner=str(resource.owner)
    )


def delete_scan(scan: Scan, *, by: User) -> None:
    """Remove a scan with its resources and folder (owners)."""
    permissions.require(by, "delete", scan)
    folder = layout.archive_scan_dir(scan.session.project_id, scan.session.label, scan.scan_id)
    _delete_with_folders(scan, [folder], "archive.scan.deleted", by, session=scan.session.label)


def delete_session(session: ImageSession, *, by: User) -> None:
    """Remove a session with its scans, resources and folder (owners)."""
    permissions.require(by, "delete", session)
    folder = layout.archive_session_dir(session.project_id, session.label)
    _delete_with_folders(session, [folder], "archive.session.deleted", by, subject=session.subject.label)


def delete_subject(subject: Subject, *, by: User) -> None:
    """Remove a subject with all its sessions, resources and folders (owners)."""
    permissions.require(by, "delete", subject)
    folders = [layout.archive_session_dir(subject.project_id, s.label) for s in subject.sessions.all()]
    folders.append(layout.archive_project_dir(subject.project_id) / "subjects" / subject.label)
    _delete_with_folders(subject, folders, "archive.subject.deleted", by, sessions=len(folders) - 1)


# --- relabelling ----------------------------------------------------------------------------------
def _repoint_files(old: Path, new: Path) -> int:
    """Rewrite the stored paths of every file under `old` to lie under `new`."""
    old_prefix = layout.relative_path(old) + "/"
    new_prefix = layout.relative_path(new) + "/"
    return File.objects.filter(path__startswith=old_prefix).update(
        path=Concat(Value(new_prefix), Substr(F("path"), len(old_prefix) + 1))
    )


def _relabel(obj: Any, label: str, old_folder: Path, new_folder: Path, action: str, by) -> Any:
    """Rename the folder and update rows in one transaction; the rename is undone if the rows fail."""
    renamed = False
    with transaction.atomic():
        old_label = obj.label
        obj.label = label
        obj.save(update_fields=["label", "updated_at"])
        if old_folder.exists():
            if new_folder.exists():
                raise ArchiveConflict(f"Folder for '{label}' already exists on disk")
            new_folder.parent.mkdir(parents=True, exist_ok=True)
            os.rename(old_folder, new_folder)  # atomic within one filesystem
            renamed = True
        try:
            _repoint_files(old_folder, new_folder)
            audit.record(by, action, obj, old_label=old_label, label=label)
        except BaseException:
            if renamed:
                os.rename(new_folder, old_folder)
            raise
    return obj


def relabel_subject(subject: Subject, label: str, *, by: User) -> Subject:
    """Give a subject a new label; its resource folder follows (members and owners)."""
    permissions.require(by, "edit", subject)
    layout.check_label(label, "Subject label")
    if label == subject.label:
        return subject
    if Subject.objects.filter(project=subject.project, label__iexact=label).exclude(pk=subject.pk).exists():
        raise ArchiveConflict(f"Subject '{label}' already exists in project {subject.project_id}")
    base = layout.archive_project_dir(subject.project_id) / "subjects"
    return _relabel(subject, label, base / subject.label, base / label, "archive.subject.relabelled", by)


def relabel_session(session: ImageSession, label: str, *, by: User) -> ImageSession:
    """Give a session a new label; its folder is renamed in one step (members and owners)."""
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
    return _relabel(session, label, old, new, "archive.session.relabelled", by)


def find_resource(owner: Owner, label_or_id: str) -> Resource:
    """A resource of this owner by label, or by its numeric ID as XNAT clients also address it."""
    field = Resource.owner_field(owner)
    resources = Resource.objects.filter(**{field: owner})
    resource = resources.filter(label=label_or_id).first()
    if resource is None and label_or_id.isdigit():
        resource = resources.filter(pk=int(label_or_id)).first()
    if resource is None:
        raise NotFound(f"Resource '{label_or_id}' not found")
    return resource
