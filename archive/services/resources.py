"""Resources (labelled folders of files) on a project, subject, session or scan, and their files:
streamed to a private upload folder under the data root's cache (never inside the archive tree: a
process killed mid-upload leaves its part there, where the upload sweep removes it), hashed on the way
and renamed into place; a resource's catalog (archive/catalogs.py) is rewritten after its files change."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO

from django.db import transaction

from archive import catalogs, unixgroups
from archive.models import File, ImageSession, Resource, Scan, Subject
from archive.services import folders
from xnatlite import audit, layout, permissions, uploads
from xnatlite.errors import ArchiveConflict, InvalidInput, NotFound
from xnatlite.models import Project
from xnatlite.permissions import User

CHUNK = 1024 * 1024

Owner = Project | Subject | ImageSession | Scan


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


def _write_stream(stream: BinaryIO, folder: Path) -> tuple[Path, int, str]:
    """Stream into a temporary file inside `folder` (an upload folder); (temp path, size, MD5). Removed
    on failure."""
    temp = folder / f"{uuid.uuid4().hex}.part"
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
    with uploads.upload_folder() as work:  # same filesystem as the archive: the rename below is atomic
        temp, size, md5 = _write_stream(stream, work)
        with transaction.atomic():
            file = existing or File(resource=resource, name=name)
            file.path = layout.relative_path(target)
            file.size, file.md5 = size, md5
            file.format, file.content, file.tags = format[:64], content[:64], tags[:255]
            file.save()
            os.replace(temp, target)  # last step inside the transaction: row and file appear together
    return file, existing is not None


def _top_folder(resource: Resource) -> Path:
    """The folder of the object the resource hangs on, inside the project's archive folder."""
    session = resource.scan.session if resource.scan is not None else resource.session
    if session is not None:
        return layout.archive_session_dir(session.project_id, session.label)
    return Path(resource.folder).parent


def _apply_project_group(resource: Resource) -> None:
    """With XNATLITE_PROJECT_GROUPS, new folders and files get the project's group and modes (no
    read access for others), like everything archiving writes (archive/unixgroups.py)."""
    project = resource.owning_project
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


def delete_file(file: File, *, by: User) -> None:
    """Remove one file from a resource (owners: deleting archived data)."""
    permissions.require(by, "delete", file)
    path = file.absolute_path
    with transaction.atomic():
        trash = folders.move_to_trash(path)
        try:
            audit.record(by, "archive.file.deleted", file.resource, file=file.name, size=file.size)
            file.delete()
        except BaseException:
            if trash is not None:
                os.replace(trash, path)
            raise
        if trash is not None:
            transaction.on_commit(lambda: trash.unlink(missing_ok=True))
        catalogs.write_resource_catalog(file.resource)


def delete_resource(resource: Resource, *, by: User) -> None:
    """Remove a resource, its files and its folder (owners)."""
    permissions.require(by, "delete", resource)
    folders.delete_with_folders(
        resource, [Path(resource.folder)], "archive.resource.deleted", by, owner=str(resource.owner)
    )
