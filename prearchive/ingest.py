"""THE one ingestion path: every source (receiver, browser upload, REST import, upload tool) hands each
DICOM instance to `ingest_file` with an `IngestContext` (DESIGN.md "The flow of data").

Per instance (xnat-spec.md §5.3): read the header once, route it (§5.4), apply the site script in
memory with the routed labels unless `prevent_anon`, find or create the prearchive session (§3.4),
write the file once to a temporary name in its folder and rename it into place, then record the row.
A crash leaves either no file or a complete one; a complete file without its row is picked up again
by `rebuild_session_rows`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import tempfile
import time as time_module
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import pydicom
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from anonymize import services as anonymize_services
from archive import audit, layout, permissions
from archive.models import Project, ProjectAlias
from dicom_receiver import routing
from prearchive.models import (
    ACCEPTING,
    REOPENING,
    AutoArchive,
    PrearchiveFile,
    PrearchiveSession,
    Status,
    change_status,
)
from xnatlite.errors import Forbidden, InvalidDicom, NotFound

log = logging.getLogger(__name__)

FOLDER_SUFFIX_TRIES = 3  # XNAT appends _1, _2, _3 to a folder name that is taken (§3.1)
CLAIM_TRIES = 8
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class ReceiverInfo:
    """Who sent an instance over DICOM: our receiver (called AE, its configuration) and the peer."""

    ae_title: str
    calling_ae: str = ""
    address: str = ""
    config: object | None = None  # dicom_receiver.models.Receiver


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
    def actor(self):
        if self.user is not None:
            return self.user
        if self.receiver is not None:
            return f"receiver:{self.receiver.ae_title}"
        return f"ingest:{self.source}"


@dataclass
class IngestResult:
    """What happened to one instance: its session and row, or `rejected` by the site script."""

    session: PrearchiveSession | None = None
    file: PrearchiveFile | None = None
    rejected: bool = False
    replaced: bool = False  # a copy of this SOP instance was already in the session


# --- reading --------------------------------------------------------------------------------------
def read_instance(source: Path | str | BinaryIO) -> Dataset:
    """Read a DICOM instance (Part 10, or a bare dataset without meta); InvalidDicom if it is not one."""
    try:
        ds = pydicom.dcmread(source, force=True)
        if not len(ds):
            raise InvalidDicom("The file holds no DICOM data elements")
        last = ds.get_item(list(ds.keys())[-1])
        # pydicom stops quietly at the end of the data; a last element shorter than it says means
        # the file was cut off (an aborted transfer) and must not be stored as if complete.
        value, length = getattr(last, "value", None), getattr(last, "length", 0xFFFFFFFF)
        if isinstance(value, bytes) and length != 0xFFFFFFFF and len(value) < length:
            raise InvalidDicom(f"The file is truncated: {last.tag} declares {length} bytes, has {len(value)}")
        sop_class_uid = ds.get("SOPClassUID")
        sop_instance_uid = ds.get("SOPInstanceUID")
    except InvalidDicom:
        raise
    except (InvalidDicomError, Exception) as exc:  # pydicom signals garbage with many exception types
        raise InvalidDicom(f"Not a readable DICOM file: {exc}") from exc
    if not sop_class_uid or not sop_instance_uid:
        raise InvalidDicom("The object lacks its SOP Class UID or SOP Instance UID")
    return ds


# --- naming ---------------------------------------------------------------------------------------
def _java_string_hash(text: str) -> int:
    data = text.encode("utf-16-be")  # Java hashes UTF-16 code units
    h = 0
    for unit in struct.unpack(f">{len(data) // 2}H", data):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def java_list_hash(*values: str) -> str:
    """Java's `List.hashCode()` of strings as unsigned base 36: XNAT's `Hash{A}With{B}` (§3.1)."""
    h = 1
    for value in values:
        h = (31 * h + _java_string_hash(value)) & 0xFFFFFFFF
    return _base36(h)


def _value(ds: Dataset, keyword: str) -> str:
    text = str(ds.get(keyword, "") or "").strip()
    return text or f"no-value-for-{keyword}"


def file_name(ds: Dataset) -> str:
    """XNAT's default name `{StudyUID}-{SeriesNumber}-{InstanceNumber}-{hash(SOPClass, SOPInstance)}.dcm`.

    Unlike XNAT it is made from the header after the site script, so no original UID reaches a name.
    """
    name = "-".join(
        (
            _value(ds, "StudyInstanceUID"),
            _value(ds, "SeriesNumber"),
            _value(ds, "InstanceNumber"),
            java_list_hash(str(ds.SOPClassUID), str(ds.SOPInstanceUID)),
        )
    )
    return layout.check_file_name(f"{name}.dcm")


def scan_folder(ds: Dataset) -> str:
    """SeriesNumber (a leading `+` becomes `_`), else the SeriesInstanceUID as a label, else `NA`."""
    series_number = str(ds.get("SeriesNumber", "") or "").strip()
    if series_number.startswith("+"):
        series_number = "_" + series_number[1:]
    for candidate in (series_number, layout.clean_label(ds.get("SeriesInstanceUID", ""))):
        if (
            candidate
            and len(candidate) <= layout.LABEL_MAX_LENGTH
            and layout.clean_label(candidate) == candidate
        ):
            return candidate
    return "NA"


def new_timestamp(now: datetime | None = None) -> str:
    """`yyyyMMdd_HHmmssSSS` in local time (§3.1)."""
    now = timezone.localtime(now or timezone.now())
    return now.strftime("%Y%m%d_%H%M%S") + f"{now.microsecond // 1000:03d}"


def _dicom_date(value) -> date | None:
    try:
        return datetime.strptime(str(value or "").strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _dicom_time(value) -> time | None:
    text = str(value or "").strip().split(".")[0]
    for fmt in ("%H%M%S", "%H%M", "%H"):
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    return None


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# --- routing --------------------------------------------------------------------------------------
PROJECT_NAMES_CACHE_SECONDS = 5.0
_project_names: tuple[float, dict[str, str]] | None = None


def _lookup_projects(values: list[str]) -> dict[str, str]:
    found = dict(Project.objects.filter(pk__in=values).values_list("pk", "pk"))
    for alias, project_id in ProjectAlias.objects.filter(alias__in=values).values_list("alias", "project_id"):
        found.setdefault(alias, project_id)
    return found


def find_projects(values: list[str]) -> dict[str, str]:
    """Map each value that names a project ID or alias to the project's ID.

    Every project ID and alias is kept for a few seconds per process (two queries per instance were
    a tenth of the receiver's time); a value the cache does not know is looked up in the database,
    so a project created a moment ago is found at once.
    """
    global _project_names
    now = time_module.monotonic()
    if _project_names is None or now - _project_names[0] > PROJECT_NAMES_CACHE_SECONDS:
        names = dict(Project.objects.values_list("pk", "pk"))
        for alias, project_id in ProjectAlias.objects.values_list("alias", "project_id"):
            names.setdefault(alias, project_id)
        _project_names = (now, names)
    names = _project_names[1]
    found = {value: names[value] for value in values if value in names}
    return found if found else _lookup_projects(values)


def forget_cached_projects() -> None:
    """Drop the cached project IDs and aliases (tests; the cache also expires by itself)."""
    global _project_names
    _project_names = None


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
    from dicom_receiver.models import rule_set

    project = _explicit_project(context)
    subject = layout.check_label(context.subject, "Subject label") if context.subject else ""
    session = layout.check_label(context.session, "Session label") if context.session else ""
    receiver = context.receiver.config if context.receiver else None
    return routing.route_instance(
        ds,
        rule_set(receiver),
        find_projects,
        project_id=project.pk if project else None,
        subject=subject,
        session=session,
    )


def _prevent_anon(context: IngestContext) -> bool:
    config = context.receiver.config if context.receiver else None
    return context.prevent_anon or (config is not None and not config.anonymization_enabled)


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
def _create_session(ds: Dataset, found: routing.Route, context: IngestContext, study_instance_uid: str):
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
                    study_instance_uid=study_instance_uid,
                    scan_date=_dicom_date(ds.get("StudyDate")),
                    scan_time=_dicom_time(ds.get("StudyTime")),
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
            if _receiving_session(found, study_instance_uid) is not None:
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


# (project, StudyInstanceUID, label) -> (session, when this process last recorded a file in it). While
# files keep arriving, record_file's conditional UPDATE keeps the session RECEIVING and fresh, so the
# next instance may skip the two claim queries (a quarter of the receiver's time per instance).
_recent_claims: dict[tuple, tuple[PrearchiveSession, float]] = {}


class SessionLeftReceiving(Exception):
    """The session stopped accepting data between the claim and the row (deleted, moved, built)."""


def _recent_claim(key: tuple) -> PrearchiveSession | None:
    cached = _recent_claims.get(key)
    # Only well inside the idle timeout: the builder cannot have claimed a session touched this recently.
    if cached and time_module.monotonic() - cached[1] < settings.SESSION_IDLE_SECONDS / 10:
        return cached[0]
    return None


def claim_session(
    ds: Dataset, found: routing.Route, context: IngestContext, study_instance_uid: str
) -> PrearchiveSession:
    """The session this instance joins, marked as just modified, created or reopened as needed (§3.4).

    Matching is by (project, StudyInstanceUID, label). A RECEIVING row takes the data; a BUILDING row
    is interrupted; READY/CONFLICT/ERROR rows reopen; rows being archived, moved or deleted are left
    alone and a new row starts in a new timestamp folder. Touching `last_modified` with a condition on
    the status keeps the idle builder and the archive away while the file is written.
    """
    for _ in range(CLAIM_TRIES):
        rows = list(
            PrearchiveSession.objects.filter(
                project_id=found.project_id, study_instance_uid=study_instance_uid, label=found.session
            ).order_by("-created_at", "-id")
        )
        order = {**dict.fromkeys(ACCEPTING, 0), Status.BUILDING: 1, **dict.fromkeys(REOPENING, 2)}
        rows = sorted((r for r in rows if r.status in order), key=lambda r: order[r.status])
        if not rows:
            session = _create_session(ds, found, context, study_instance_uid)
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
                audit.record(context.actor, "prearchive.session.reopened", session, previous=status)
                return session
    raise RuntimeError(f"Could not claim a prearchive session for study {study_instance_uid}")


# --- files ----------------------------------------------------------------------------------------
def _prepare_meta(ds: Dataset, context: IngestContext) -> None:
    """A complete file meta header (bare datasets get one), naming the sender like XNAT does."""
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = {
            (True, True): ImplicitVRLittleEndian,
            (False, True): ExplicitVRLittleEndian,
            (False, False): ExplicitVRBigEndian,
        }.get(tuple(ds.original_encoding), ExplicitVRLittleEndian)
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if context.receiver and context.receiver.calling_ae:
        meta.SourceApplicationEntityTitle = context.receiver.calling_ae.strip()
    ds.file_meta = meta


def write_instance(ds: Dataset, target: Path) -> tuple[int, str]:
    """Write the dataset to `target` atomically (temp name in the same folder, then rename): (size, md5).

    The instance is encoded in memory first (it is in memory already) and written with one call:
    pydicom writing element by element into the file cost a third of the receiver's time.
    """
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    data = buffer.getbuffer()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return len(data), hashlib.md5(data, usedforsecurity=False).hexdigest()


def file_fields(ds: Dataset, path: Path, size: int, md5: str, scan_id: str) -> dict:
    """The PrearchiveFile columns for an instance stored at `path`."""
    return {
        "path": layout.relative_path(path),
        "size": size,
        "md5": md5,
        "sop_class_uid": str(ds.SOPClassUID),
        "study_instance_uid": str(ds.get("StudyInstanceUID", "") or ""),
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "") or ""),
        "series_number": str(ds.get("SeriesNumber", "") or "").strip()[:16],
        "scan_id": scan_id,
        "modality": str(ds.get("Modality", "") or "")[:16],
        "series_description": str(ds.get("SeriesDescription", "") or "")[:255],
        "instance_number": _int(ds.get("InstanceNumber")),
        "frames": _int(ds.get("NumberOfFrames")) or 1,
        "received_at": timezone.now(),
    }


def record_file(
    session: PrearchiveSession, sop_instance_uid: str, fields: dict
) -> tuple[PrearchiveFile, PrearchiveFile | None]:
    """Insert or replace the instance's row and update the session's counts: (row, the replaced row).

    Raises SessionLeftReceiving (nothing recorded) when the session stopped accepting data.
    """
    for _ in range(CLAIM_TRIES):
        try:
            with transaction.atomic():
                counters = {"last_modified": timezone.now()}
                new_series = (
                    not PrearchiveFile.objects.filter(
                        session=session, series_instance_uid=fields["series_instance_uid"]
                    )
                    .order_by()
                    .exists()
                )
                try:
                    with transaction.atomic():  # the usual case first: a new instance
                        row = PrearchiveFile.objects.create(
                            session=session, sop_instance_uid=sop_instance_uid, **fields
                        )
                    replaced = None
                    counters.update(
                        file_count=F("file_count") + 1, total_size=F("total_size") + fields["size"]
                    )
                    if new_series:
                        counters["scan_count"] = F("scan_count") + 1
                except IntegrityError:  # a second copy of an instance: it replaces the first
                    row = PrearchiveFile.objects.select_for_update().get(
                        session=session, sop_instance_uid=sop_instance_uid
                    )
                    replaced = PrearchiveFile(path=row.path, size=row.size)
                    counters["total_size"] = F("total_size") + fields["size"] - row.size
                    for name, value in fields.items():
                        setattr(row, name, value)
                    row.save(update_fields=list(fields))
                if not PrearchiveSession.objects.filter(pk=session.pk, status__in=ACCEPTING).update(
                    **counters
                ):
                    raise SessionLeftReceiving(str(session))
                return row, replaced
        except (IntegrityError, PrearchiveFile.DoesNotExist):  # raced with another association: again
            continue
    raise RuntimeError(f"Could not record instance {sop_instance_uid}")


def ingest_file(source: Path | str | BinaryIO, context: IngestContext) -> IngestResult:
    """Route, anonymize and store one DICOM instance in the prearchive.

    Raises InvalidDicom for something that is not a DICOM object with SOP UIDs (nothing is stored),
    NotFound for an explicit project the user may not use, InvalidLabel for a bad explicit label, and
    lets a failing site script's ScriptRuntimeError through (a failure on our side: nothing is stored).
    A `reject` in the site script drops the instance and reports `rejected` (XNAT answers success, §5.1).
    """
    ds = read_instance(source)
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
                return IngestResult(rejected=True)
            if not ds.get("SOPInstanceUID") or not ds.get("SOPClassUID"):
                raise InvalidDicom("The site script removed the SOP Class UID or SOP Instance UID")
    study_instance_uid = str(ds.get("StudyInstanceUID", "") or "")[:64]
    _prepare_meta(ds, context)
    name, scan_id = file_name(ds), scan_folder(ds)
    key = (found.project_id, study_instance_uid, found.session)
    session = _recent_claim(key)
    for attempt in range(2):
        session = session or claim_session(ds, found, context, study_instance_uid)
        target = session.folder / "SCANS" / layout.scan_folder_name(scan_id) / "DICOM" / name
        size, md5 = write_instance(ds, target)
        fields = file_fields(ds, target, size, md5, scan_id)
        try:
            row, replaced = record_file(session, str(ds.SOPInstanceUID), fields)
            break
        except SessionLeftReceiving:
            _recent_claims.pop(key, None)
            if not PrearchiveFile.objects.filter(session=session, path=fields["path"]).exists():
                target.unlink(missing_ok=True)  # never recorded: the session is no place for it now
            if attempt:
                raise
            session = None  # claim again: reopen, interrupt or start a new session as §3.4 says
    _recent_claims[key] = (session, time_module.monotonic())
    if replaced is not None and replaced.path != row.path:
        # The earlier copy had another name (its series or instance number changed): remove it.
        layout.absolute_path(replaced.path).unlink(missing_ok=True)
    return IngestResult(session=session, file=row, replaced=replaced is not None)
