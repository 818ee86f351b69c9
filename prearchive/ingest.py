"""THE one ingestion path: every source (receiver, browser upload, REST import, upload tool) hands each
DICOM instance to `ingest_file` with an `IngestContext` (DESIGN.md "The flow of data"); the receiver's
spool workers hand over batches with `ingest_instances`, whose rows are recorded in one transaction
per session and batch instead of one per instance.

Per instance (xnat-spec.md §5.3): read the header once, route it (§5.4), apply the site script in
memory with the routed labels unless `prevent_anon`, find or create the prearchive session (§3.4),
write the file once to a temporary name in its folder and rename it into place, then record the row.
A crash leaves either no file or a complete one; a complete file without its row is picked up again
by `rebuild_session_rows` (and the spool removes the ones its dead workers left, dicom_receiver/spool.py).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from pydicom.dataset import Dataset

from anonymize import services as anonymize_services
from prearchive import routing, rules
from prearchive.dicomfiles import (
    _dicom_date,
    _dicom_time,
    file_fields,
    file_name,
    header_text,
    prepare_meta,
    read_instance,
    scan_folder,
    write_instance,
)
from prearchive.models import (
    ACCEPTING,
    REOPENING,
    AutoArchive,
    PrearchiveFile,
    PrearchiveSession,
    Status,
    change_status,
)
from xnatlite import audit, layout, permissions
from xnatlite.cache import TimedCache
from xnatlite.errors import Forbidden, InvalidDicom, NotFound
from xnatlite.models import Project

log = logging.getLogger(__name__)

FOLDER_SUFFIX_TRIES = 3  # XNAT appends _1, _2, _3 to a folder name that is taken (§3.1)
CLAIM_TRIES = 8


@dataclass(frozen=True)
class ReceiverInfo:
    """Who sent an instance over DICOM: our receiver (called AE title, its routing expressions, whether it
    applies the site script) and the peer."""

    ae_title: str
    calling_ae: str = ""
    address: str = ""
    routing: tuple[str, str, str] = ("", "", "")  # its project, subject and session expressions
    anonymize: bool = True


@dataclass
class IngestContext:
    """Everything about an instance that is not in its header."""

    source: str = "dicom"  # "dicom", "upload", "import", "uploader", ...
    receiver: ReceiverInfo | None = None
    project: str | None = None  # explicit project ID or alias
    subject: str = ""
    session: str = ""
    prevent_anon: bool = False
    prevent_auto_commit: bool = False
    auto_archive: bool | str | None = None  # True/False, or an AutoArchive value; None: AA:, project
    visit: str = ""
    protocol: str = ""
    timezone: str = ""
    user: object | None = None  # the acting user; None for the receiver
    _project: Project | None = field(default=None, repr=False)

    @property
    def actor(self) -> permissions.User:
        if self.user is not None:
            return self.user
        if self.receiver is not None:
            return permissions.receiver_actor(self.receiver.ae_title)
        return permissions.ingest_actor(self.source)


@dataclass
class IngestResult:
    """What happened to one instance: its session and row, or `rejected` by the site script."""

    session: PrearchiveSession | None = None
    file: PrearchiveFile | None = None
    rejected: bool = False
    replaced: bool = False  # a copy of this SOP instance was already in the session


def new_timestamp(now: datetime | None = None) -> str:
    """`yyyyMMdd_HHmmssSSS` in local time (§3.1)."""
    now = timezone.localtime(now or timezone.now())
    return now.strftime("%Y%m%d_%H%M%S") + f"{now.microsecond // 1000:03d}"


# --- routing ---------------------------------------------------------------------------------------
def _explicit_project(context: IngestContext) -> Project | None:
    """The explicit project, if the acting user may use its prearchive (NotFound otherwise)."""
    if not context.project:
        return None
    if context._project is not None:
        return context._project
    if context.user is not None:
        try:
            project = permissions.get_project(context.user, context.project, "prearchive")
        except Forbidden:  # a collaborator: the project is not one they may upload to
            raise NotFound(f"Project '{context.project}' not found") from None
    else:
        project = Project.objects.filter(Q(pk=context.project) | Q(aliases__alias=context.project)).first()
        if project is None:
            raise NotFound(f"Project '{context.project}' not found")
    context._project = project
    return project


def route(ds: Dataset, context: IngestContext) -> routing.Route:
    """Where this instance goes, by the routing chain (§5.4) with the context's explicit values first."""
    project = _explicit_project(context)
    subject = layout.check_label(context.subject, "Subject label") if context.subject else ""
    session = layout.check_label(context.session, "Session label") if context.session else ""
    return routing.route_instance(
        ds,
        rules.rule_set(routing.receiver_rules(*context.receiver.routing) if context.receiver else None),
        rules.find_projects,
        project_id=project.pk if project else None,
        subject=subject,
        session=session,
    )


def _prevent_anon(context: IngestContext) -> bool:
    return context.prevent_anon or (context.receiver is not None and not context.receiver.anonymize)


def _auto_archive(context: IngestContext, found: routing.Route, project: Project | None) -> str:
    """The `autoarchive` column at creation: the context's override, else `AA:`, else the project code."""
    if project is None:
        return AutoArchive.MANUAL  # Unassigned is never auto-archived (§3.6)
    wanted = context.auto_archive if context.auto_archive is not None else found.auto_archive
    if isinstance(wanted, str):
        return AutoArchive(wanted)
    if wanted is True:
        return AutoArchive.AUTO_ARCHIVE
    if wanted is False:
        return AutoArchive.MANUAL
    return AutoArchive.for_code(project.prearchive_code)


# --- sessions -------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    """One instance routed and anonymized, on its way to a session: what claiming and recording need."""

    index: int
    context: IngestContext
    found: routing.Route
    study_instance_uid: str
    study_date: str  # parsed only when the instance starts a session
    study_time: str
    sop_instance_uid: str = ""
    target: Path | None = None
    fields: dict = field(default_factory=dict)
    session: PrearchiveSession | None = None

    @property
    def key(self) -> tuple:
        return (self.found.project_id, self.study_instance_uid, self.found.session)


def _create_session(item: _Prepared) -> PrearchiveSession | None:
    found, context = item.found, item.context
    project = Project.objects.get(pk=found.project_id) if found.project_id else None
    timestamp = new_timestamp()
    for attempt in range(FOLDER_SUFFIX_TRIES + 1):
        folder = (
            found.session if attempt == 0 else f"{found.session[: layout.LABEL_MAX_LENGTH - 2]}_{attempt}"
        )
        try:
            with transaction.atomic():
                session = PrearchiveSession.objects.create(
                    project=project,
                    timestamp=timestamp,
                    folder_name=layout.check_label(folder, "Session folder"),
                    label=found.session,
                    subject_label=found.subject,
                    study_instance_uid=item.study_instance_uid,
                    scan_date=_dicom_date(item.study_date),
                    scan_time=_dicom_time(item.study_time),
                    status=Status.RECEIVING,
                    auto_archive=_auto_archive(context, found, project),
                    prevent_anon=_prevent_anon(context),
                    prevent_auto_commit=context.prevent_auto_commit,
                    source=context.source,
                    visit=context.visit,
                    protocol=context.protocol,
                    timezone=context.timezone,
                    receiver_ae=context.receiver.ae_title if context.receiver else "",
                )
        except IntegrityError:
            if _receiving_session(found, item.study_instance_uid) is not None:
                return None  # another association created it first: join that one
            continue  # the folder name is taken in this timestamp: try the next suffix
        audit.record(
            context.actor,
            "prearchive.session.created",
            session,
            source=context.source,
            folder=session.folder_name,
            subject=session.subject_label,
        )
        return session
    return None


def _receiving_session(found: routing.Route, study_instance_uid: str) -> PrearchiveSession | None:
    return PrearchiveSession.objects.filter(
        project_id=found.project_id,
        study_instance_uid=study_instance_uid,
        label=found.session,
        status=Status.RECEIVING,
    ).first()


# (project, StudyInstanceUID, label) -> the session this process last recorded a file in. While files
# keep arriving, the conditional UPDATE of record_files keeps the session RECEIVING and fresh, so the
# next instance may skip the two claim queries (a quarter of the receiver's time per instance). Only
# well inside the idle timeout: the builder cannot have claimed a session touched this recently.
_recent_claims: TimedCache[tuple, PrearchiveSession] = TimedCache(
    None, seconds=lambda: settings.SESSION_IDLE_SECONDS / 10, max_entries=4096
)


class SessionLeftReceiving(Exception):
    """The session stopped accepting data between the claim and the row (deleted, moved, built)."""


def claim_session(item: _Prepared) -> PrearchiveSession:
    """The session this instance joins, marked as just modified, created or reopened as needed (§3.4).

    Matching is by (project, StudyInstanceUID, label). A RECEIVING row takes the data; a BUILDING row
    is interrupted; READY/CONFLICT/ERROR rows reopen; rows being archived, moved or deleted are left
    alone and a new row starts in a new timestamp folder. Touching `last_modified` with a condition on
    the status keeps the idle builder and the archive away while the file is written.
    """
    found, study_instance_uid = item.found, item.study_instance_uid
    for _ in range(CLAIM_TRIES):
        rows = list(
            PrearchiveSession.objects.filter(
                project_id=found.project_id, study_instance_uid=study_instance_uid, label=found.session
            ).order_by("-created_at", "-id")
        )
        order = {**dict.fromkeys(ACCEPTING, 0), Status.BUILDING: 1, **dict.fromkeys(REOPENING, 2)}
        rows = sorted((r for r in rows if r.status in order), key=lambda r: order[r.status])
        if not rows:
            session = _create_session(item)
            if session is not None:
                return session
            continue
        session = rows[0]
        status = Status(session.status)
        now = timezone.now()
        if status in ACCEPTING:
            if PrearchiveSession.objects.filter(pk=session.pk, status=status).update(last_modified=now):
                session.last_modified = now
                return session
        elif status == Status.BUILDING:
            if change_status(session, Status.RECEIVING_INTERRUPT):
                return session
        else:
            try:
                with transaction.atomic():
                    reopened = change_status(session, Status.RECEIVING)
            except IntegrityError:  # another row already receives this study: join it next time
                continue
            if reopened:
                audit.record(item.context.actor, "prearchive.session.reopened", session, previous=status)
                return session
    raise RuntimeError(f"Could not claim a prearchive session for study {study_instance_uid}")


# --- rows -----------------------------------------------------------------------------------------
@dataclass
class Recorded:
    """The row of one recorded instance, and whether it replaced a copy already in the session."""

    row: PrearchiveFile
    replaced: bool = False


def _record(session: PrearchiveSession, entries: list[tuple[str, dict]]) -> tuple[list[Recorded], set[str]]:
    """The rows of `entries` in one transaction (the caller's); returns them and the paths they made stale."""
    uids = {uid for uid, _ in entries}
    existing = {
        row.sop_instance_uid: row
        for row in PrearchiveFile.objects.select_for_update().filter(
            session=session, sop_instance_uid__in=uids
        )
    }
    series = {fields["series_instance_uid"] for _, fields in entries}
    known_series = set(
        PrearchiveFile.objects.filter(session=session, series_instance_uid__in=series)
        .order_by()
        .values_list("series_instance_uid", flat=True)
        .distinct()
    )
    last = {uid: index for index, (uid, _) in enumerate(entries)}  # a later copy in the batch wins
    first = {uid: index for index, (uid, _) in reversed(list(enumerate(entries)))}
    rows: dict[str, Recorded] = {}
    stale: set[str] = set()
    new_rows, changed = [], []
    added_files = added_size = 0
    for index, (uid, fields) in enumerate(entries):
        if last[uid] != index:
            stale.add(fields["path"])
            continue
        row = existing.get(uid)
        if row is None:
            row = PrearchiveFile(session=session, sop_instance_uid=uid, **fields)
            new_rows.append(row)
            added_files += 1
            added_size += fields["size"]
            rows[uid] = Recorded(row, replaced=first[uid] != index)
        else:
            stale.add(row.path)
            added_size += fields["size"] - row.size
            for name, value in fields.items():
                setattr(row, name, value)
            changed.append(row)
            rows[uid] = Recorded(row, replaced=True)
        stale.discard(fields["path"])
    if new_rows:
        PrearchiveFile.objects.bulk_create(new_rows)
    if changed:
        PrearchiveFile.objects.bulk_update(changed, fields=list(entries[0][1]))
    counters = {"last_modified": timezone.now()}
    if added_files:
        counters["file_count"] = F("file_count") + added_files
    if added_size:
        counters["total_size"] = F("total_size") + added_size
    new_series = {row.series_instance_uid for row in new_rows} - known_series
    if new_series:
        counters["scan_count"] = F("scan_count") + len(new_series)
    if not PrearchiveSession.objects.filter(pk=session.pk, status__in=ACCEPTING).update(**counters):
        raise SessionLeftReceiving(str(session))
    stale -= {recorded.row.path for recorded in rows.values()}
    return [rows[uid] for uid, _ in entries], stale


def record_files(session: PrearchiveSession, entries: list[tuple[str, dict]]) -> list[Recorded]:
    """Insert or replace the rows of instances written into `session` and update its counts, all in one
    transaction: one per batch of the spool instead of one per instance (README "The DICOM receiver", Speed).

    `entries` are (SOP Instance UID, PrearchiveFile columns); a second copy of an instance replaces the
    first (counted once) and the first copy's file is removed when its name differs. Raises
    SessionLeftReceiving (nothing recorded) when the session stopped accepting data.
    """
    for _ in range(CLAIM_TRIES):
        try:
            with transaction.atomic():
                recorded, stale = _record(session, entries)
        except IntegrityError:  # another worker recorded one of these instances first: again
            continue
        for path in stale:
            layout.absolute_path(path).unlink(missing_ok=True)
        return recorded
    raise RuntimeError(f"Could not record {len(entries)} instances in {session}")


# --- the flow -------------------------------------------------------------------------------------
def _prepare(source: Path | str | BinaryIO | Dataset, context: IngestContext, index: int):
    """Read, route and anonymize one instance: a _Prepared and its dataset, or None when rejected."""
    ds = source if isinstance(source, Dataset) else read_instance(source)
    found = route(ds, context)
    if not _prevent_anon(context):
        site = anonymize_services.site_script_for_ingest()
        if site is not None:
            script, record_info = site
            variables = {
                "project": found.project_id or "Unassigned",
                "subject": found.subject,
                "session": found.session,
            }
            if script.apply(ds, variables, record=record_info).rejected:
                log.info("site script rejected instance for %s/%s", variables["project"], found.session)
                return None
            if not header_text(ds, 0x00080018) or not header_text(ds, 0x00080016):
                raise InvalidDicom("The site script removed the SOP Class UID or SOP Instance UID")
    prepare_meta(ds, context.receiver.calling_ae if context.receiver else "")
    item = _Prepared(
        index=index,
        context=context,
        found=found,
        study_instance_uid=header_text(ds, 0x0020000D)[:64],
        study_date=header_text(ds, 0x00080020),
        study_time=header_text(ds, 0x00080030),
        sop_instance_uid=header_text(ds, 0x00080018),
    )
    return item, ds


def _session_folder(session: PrearchiveSession) -> tuple[Path, str]:
    """The session folder, absolute and as stored in rows; worked out once per session and data root
    (checking its labels and resolving it for every file cost 0.2 ms)."""
    root = settings.DATA_ROOT
    cached = getattr(session, "_cached_folder", None)
    if cached is None or cached[0] != root:
        folder = session.folder
        cached = session._cached_folder = (root, folder, layout.relative_path(folder))
    return cached[1], cached[2]


def _folder(session: PrearchiveSession) -> Path:
    return _session_folder(session)[0]


def _relative_folder(session: PrearchiveSession) -> str:
    return _session_folder(session)[1]


def _session_for(item: _Prepared, claimed: dict[tuple, PrearchiveSession]) -> PrearchiveSession:
    session = claimed.get(item.key) or _recent_claims.peek(item.key) or claim_session(item)
    claimed[item.key] = session
    return session


def _recorded_elsewhere(item: _Prepared) -> bool:
    """Whether the file an instance was written to is an earlier copy's, recorded in its session."""
    return PrearchiveFile.objects.filter(session=item.session, path=item.fields["path"]).exists()


def _move_to(item: _Prepared, session: PrearchiveSession, before_write=None) -> None:
    """Move an instance already written for a session that stopped receiving into its new session
    (copy it when the old session recorded that file for an earlier copy of the instance)."""
    inside = item.target.relative_to(item.session.folder)
    target = session.folder / inside
    if before_write is not None:
        before_write(item.index, f"{_relative_folder(session)}/{inside.as_posix()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if _recorded_elsewhere(item):
        shutil.copyfile(item.target, target)
    else:
        os.replace(item.target, target)
    item.session, item.target = session, target
    item.fields["path"] = layout.relative_path(target)


def ingest_instances(
    items: Iterable[tuple[Path | str | BinaryIO | Dataset, IngestContext]],
    *,
    before_write: Callable[[int, str], None] | None = None,
) -> list[IngestResult | Exception]:
    """Route, anonymize and store several DICOM instances; the outcome of each, in order.

    Each instance is read, anonymized and written on its own (one in memory at a time); the rows of
    all of them are recorded at the end, one transaction per session. An outcome is an IngestResult,
    or the exception that instance raised (see `ingest_file`); one failing instance does not stop
    the others. `before_write(index, path)` is called with the path (relative to the data root, as rows
    store it) before an instance's file is written there.
    """
    outcomes: list[IngestResult | Exception | None] = []
    written: list[_Prepared] = []
    claimed: dict[tuple, PrearchiveSession] = {}
    for index, (source, context) in enumerate(items):
        outcomes.append(None)
        try:
            prepared = _prepare(source, context, index)
            if prepared is None:
                outcomes[index] = IngestResult(rejected=True)
                continue
            item, ds = prepared
            item.session = _session_for(item, claimed)
            name, scan_id = file_name(ds), scan_folder(ds)
            inside = f"SCANS/{layout.scan_folder_name(scan_id)}/DICOM/{name}"
            item.target = _folder(item.session) / inside
            relative = f"{_relative_folder(item.session)}/{inside}"
            if before_write is not None:
                before_write(index, relative)
            size, md5 = write_instance(ds, item.target)
            item.fields = file_fields(ds, item.target, size, md5, scan_id, relative)
            del ds
            written.append(item)
        except Exception as exc:
            outcomes[index] = exc
    _record_written(written, outcomes, before_write)
    return outcomes


def _record_written(written: list[_Prepared], outcomes: list, before_write=None) -> None:
    """Record the rows of written instances, session by session; claim again where a session left."""
    for attempt in range(2):
        by_session: dict[int, list[_Prepared]] = {}
        for item in written:
            by_session.setdefault(item.session.pk, []).append(item)
        retry: list[_Prepared] = []
        for group in by_session.values():
            session = group[0].session
            try:
                recorded = record_files(session, [(item.sop_instance_uid, item.fields) for item in group])
            except SessionLeftReceiving:
                for item in group:
                    _recent_claims.discard(item.key)
                retry.extend(group)
                continue
            except (
                Exception
            ) as exc:  # the database failed: files stay, found by rebuild or redone by the spool
                for item in group:
                    outcomes[item.index] = exc
                continue
            for item, result in zip(group, recorded, strict=True):
                _recent_claims.put(item.key, session)
                outcomes[item.index] = IngestResult(
                    session=session, file=result.row, replaced=result.replaced
                )
        if not retry:
            return
        written, claimed = [], {}
        for item in retry:
            try:
                if attempt:
                    raise SessionLeftReceiving(str(item.session))
                # claim again: reopen, interrupt or start a new session as §3.4 says, and move the file
                _move_to(item, _session_for(item, claimed), before_write)
                written.append(item)
            except Exception as exc:
                outcomes[item.index] = exc
                if not _recorded_elsewhere(item):
                    item.target.unlink(missing_ok=True)  # never recorded: the session is no place for it now


def ingest_file(source: Path | str | BinaryIO, context: IngestContext) -> IngestResult:
    """Route, anonymize and store one DICOM instance in the prearchive.

    Raises InvalidDicom for something that is not a DICOM object with SOP UIDs (nothing is stored),
    NotFound for an explicit project the user may not use, InvalidLabel for a bad explicit label, and
    lets a failing site script's ScriptRuntimeError through (a failure on our side: nothing is stored).
    A `reject` in the site script drops the instance and reports `rejected` (XNAT answers success, §5.1).
    """
    [outcome] = ingest_instances([(source, context)])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
