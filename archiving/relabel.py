"""Relabelling archived subjects and sessions: the folder and the rows (archive/services), then the
labels in the DICOM headers of their files, as archiving writes them: Patient Name (0010,0010) holds
the subject label, Patient ID (0010,0020) the session label (DESIGN.md "Anonymization"), so the old
label does not stay in the files. Every edge (the pages, the REST API) relabels through here.

Each file whose header does not already hold the labels (headers.py answers from its first bytes) is
written anew beside itself, its pixel data copied by the kernel from the old file, never read into
memory (dicomio/files.py), and renamed over it: a reader sees the old file or the new one,
and a hard link elsewhere is never written into. Its row's size and MD5, and the scan's catalog,
follow. The rewrite runs after the rename committed and is idempotent: files that already hold the
labels are skipped, so a run cut off half-way is finished by running `write_labels` again.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from django.db import transaction

from anonymize.dicomedit.elements import set_text
from archive import catalogs
from archive.models import File, ImageSession, Resource, Subject
from archive.services import sessions, subjects
from dicomio import files as dicomfiles
from dicomio import headers
from dicomio.errors import InvalidDicom
from xnatlite import audit
from xnatlite.permissions import User

log = logging.getLogger(__name__)

PATIENT_NAME, PATIENT_ID = 0x00100010, 0x00100020


def relabel_session(session: ImageSession, label: str, *, by: User) -> ImageSession:
    """Give an archived session a new label: folder, rows, and Patient ID in its files."""
    old = session.label
    sessions.relabel_session(session, label, by=by)
    if session.label != old:
        write_labels(session, by=by)
    return session


def relabel_subject(subject: Subject, label: str, *, by: User) -> Subject:
    """Give a subject a new label: its folder, rows, and Patient Name in the files of its sessions."""
    old = subject.label
    subjects.relabel_subject(subject, label, by=by)
    if subject.label != old:
        for session in ImageSession.objects.filter(subject=subject).select_related("subject"):
            write_labels(session, by=by)
    return subject


def write_labels(session: ImageSession, *, by: User) -> int:
    """Write the session's subject and session labels into every DICOM file of it that does not hold
    them yet (module doc); the number of files rewritten. Files that cannot be read as DICOM are left
    as they are, counted in the audit record and the log."""
    subject_label, label = session.subject.label, session.label
    files = (
        File.objects.filter(resource__scan__session=session, resource__label="DICOM")
        .select_related("resource")
        .order_by("pk")
    )
    rewritten, unreadable = 0, 0
    touched: dict[int, Resource] = {}
    for file in files.iterator(chunk_size=2000):
        path = file.absolute_path
        if not path.is_file() or headers.holds_labels(path, subject_label, label):
            continue
        try:
            size, md5 = _rewrite(path, subject_label, label)
        except InvalidDicom as exc:
            unreadable += 1
            log.warning("relabel: %s keeps its old labels: %s", file.path, exc)
            continue
        File.objects.filter(pk=file.pk).update(size=size, md5=md5)
        touched[file.resource.pk] = file.resource
        rewritten += 1
    for resource in touched.values():
        catalogs.write_resource_catalog(resource)
    with transaction.atomic():
        ImageSession.objects.filter(pk=session.pk).update(
            dcm_patient_name=subject_label, dcm_patient_id=label
        )
        session.dcm_patient_name, session.dcm_patient_id = subject_label, label
        if rewritten or unreadable:
            audit.record(
                by, "archive.session.headers_rewritten", session, files=rewritten, unreadable=unreadable
            )
    return rewritten


def _rewrite(path: Path, patient_name: str, patient_id: str) -> tuple[int, str]:
    """Write the file anew beside itself with the two labels, keep its mode and group, rename it over
    the old one; (size, md5) of the new file."""
    ds = dicomfiles.read_instance(path)  # values past DEFER_BYTES (the pixel data) stay in the file
    set_text(ds, PATIENT_NAME, patient_name)
    set_text(ds, PATIENT_ID, patient_id)
    pieces = dicomfiles.encode_pieces(ds)
    stat = path.stat()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            size, md5 = dicomfiles.write_pieces(fd, pieces, str(path))
            os.fsync(fd)
        finally:
            os.close(fd)
        if stat.st_gid != os.getegid():
            try:
                os.chown(tmp, -1, stat.st_gid)  # the project's Unix group (archive/unixgroups.py)
            except PermissionError:
                log.warning("relabel: cannot give %s the group %s", path, stat.st_gid)
        os.chmod(tmp, stat.st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size, md5
