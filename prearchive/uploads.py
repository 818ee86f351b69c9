"""DICOM uploads (the browser's upload page, the REST import service, the upload tool): every file of an
upload, or every member of an uploaded archive (xnatlite/uploads.py takes archives apart safely),
goes through the one ingest path; then the upload's sessions are built, committed or archived.

A member that is not DICOM is skipped and counted with Ignore-Unparsable, else the upload stops with a
400 naming it; files ingested from earlier members stay either way (XNAT's behaviour, xnat-spec.md
§9.1).

Every upload has an id (IngestContext.upload) and the sessions it writes are marked with it
(PrearchiveSession.open_upload) until it ends: the idle builder leaves a marked session alone, so an
upload cut off half-way (a killed web server, a closed browser, a refused member) is never built as
READY or archived as if it were whole. Sending the upload again writes into the same RECEIVING
session (the instances it already holds are replaced, not doubled) and finishes it; or a member
builds (commits) or deletes the session from its prearchive page.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archive.models import ImageSession
from prearchive import handoff, operations, queries
from prearchive.builder import BuildReport, build_session
from prearchive.ingest import ingest_file
from prearchive.models import PrearchiveSession, Status, change_status
from xnatlite.errors import InvalidDicom, XnatliteError
from xnatlite.permissions import User
from xnatlite.uploads import Limits, archive_kind, iter_archive, upload_folder

log = logging.getLogger(__name__)

UPLOAD_ID = re.compile(r"[0-9a-f]{16,64}")


def upload_id(given: str = "") -> str:
    """The id of an upload: the one the client named for an upload spread over several requests (the
    browser's batches), if well-formed, else a new one."""
    return given if UPLOAD_ID.fullmatch(given) else uuid.uuid4().hex


def release(upload: str) -> int:
    """The upload `upload` has ended: the sessions it marked are built as usual from now on."""
    if not upload:
        return 0
    return PrearchiveSession.objects.filter(open_upload=upload).update(open_upload="")


@dataclass
class UploadResult:
    sessions: list = field(default_factory=list)  # PrearchiveSession rows, first appearance order
    files: int = 0
    skipped: list[str] = field(default_factory=list)


def ingest_upload(
    path: Path,
    context,
    *,
    ignore_unparsable: bool = False,
    limits: Limits | None = None,
    progress: Callable[[int], None] | None = None,
) -> UploadResult:
    """Ingest an uploaded file: an archive member by member, or a single DICOM file as it is.

    `context` is the IngestContext every member is ingested with; its `upload` id marks the sessions
    written until the caller releases them (`finish_upload`, `release`). Sessions come back in the
    order they first appeared. On a refusal (HostileArchive, or a non-DICOM member without
    ignore_unparsable) the error is raised after what came before was ingested; those files stay,
    their sessions marked as an unfinished upload.
    """
    if not context.upload:
        raise ValueError("an upload needs an id (prearchive/uploads.py upload_id)")
    result = UploadResult()
    seen: set[int] = set()

    def take(name: str, member_path: Path) -> None:
        try:
            outcome = ingest_file(member_path, context)
        except InvalidDicom as exc:
            if not ignore_unparsable:
                raise InvalidDicom(
                    f"'{name}' is not a DICOM file we can read ({exc}); nothing after it was imported"
                ) from None
            result.skipped.append(name)
            log.info("upload: skipped %s: %s", name, exc)
            return
        session = getattr(outcome, "session", None)
        if session is not None and session.pk not in seen:
            seen.add(session.pk)
            result.sessions.append(session)
        result.files += 1
        if progress is not None:
            progress(result.files)

    if archive_kind(path) is None:
        take(path.name, path)
        return result
    with upload_folder() as workdir:
        for member in iter_archive(path, workdir, limits):
            take(member.name, member.path)
    log.info(
        "upload: %d files into %d sessions, %d skipped",
        result.files,
        len(result.sessions),
        len(result.skipped),
    )
    return result


def build_sessions(sessions: list[PrearchiveSession]) -> None:
    """Build uploaded sessions now, without auto-archiving them: for uploads that the caller archives
    itself right after (`dest=/archive...`), so nothing else archives them in between."""
    for session in sessions:
        session.refresh_from_db()
        if session.status == Status.RECEIVING and change_status(session, Status.BUILDING):
            build_session(session, BuildReport())


def commit_sessions(sessions: list[PrearchiveSession], *, by: User) -> None:
    """Commit uploaded sessions now (build them; auto-archive where the project's code or `AA:` asks),
    as XNAT's import does when the upload ends (xnat-spec.md §9.1). Sessions the uploader may not act
    on (routed to Unassigned, say), or that another process got to first, are left to the idle builder."""
    for session in sessions:
        session.refresh_from_db()
        if session.status != Status.RECEIVING:
            continue
        try:
            operations.rebuild_session(session, by=by)
        except XnatliteError as exc:
            log.info("upload: %s left for the idle builder: %s", session, exc)


def finish_upload(
    upload: str,
    sessions: list[PrearchiveSession],
    *,
    by: User,
    archive: bool,
    commit: bool,
    overwrite: str = "none",
    confirm_identifiers: bool = False,
) -> list[tuple[PrearchiveSession, ImageSession | None]]:
    """What becomes of an upload's sessions once all its files are in (xnat-spec.md §9.1), each with the
    archived session it is now (None: still in the prearchive). `archive`: archive them at once
    through the one archive service (a destination in the archive, Direct-Archive, auto-archive);
    else `commit`: build them now, auto-archived where their project asks; else leave them receiving
    (prevent_auto_commit: the client commits later). The upload is released either way. Archiving
    labels that look like a name or an MRN needs `confirm_identifiers` (the identity policy); a
    refused session stays in the prearchive, built."""
    try:
        if archive:
            build_sessions(sessions)
            return [
                (
                    s,
                    handoff.archive_session(
                        s, by=by, overwrite=overwrite, confirm_identifiers=confirm_identifiers
                    ).session,
                )
                for s in sessions
            ]
        if commit:
            commit_sessions(sessions, by=by)
            return [(s, queries.archived_as(s)) for s in sessions]
        return [(s, None) for s in sessions]
    finally:
        release(upload)
