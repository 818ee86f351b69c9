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
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db.models import Q
from pydicom.dataset import Dataset

from anonymize import services as anonymize_services
from dicomio import errors as dicom_errors
from dicomio.files import header_text, prepare_meta, read_instance, write_instance
from prearchive import claims, routing, rules
from prearchive.claims import Study
from prearchive.context import IngestContext, IngestResult, ReceiverInfo
from prearchive.instances import file_fields, file_name, scan_folder
from prearchive.models import PrearchiveFile, PrearchiveSession
from prearchive.records import SessionLeftReceiving, record_files
from xnatlite import layout, permissions
from xnatlite.errors import Forbidden, InvalidDicom, NotFound
from xnatlite.models import Project

__all__ = ["IngestContext", "IngestResult", "ReceiverInfo", "ingest_file", "ingest_instances", "route"]

log = logging.getLogger(__name__)


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


def _usable_projects(context: IngestContext) -> Callable[[list[str]], dict[str, str]]:
    """`find_projects` as routing sees it for this context: for an upload by a person, only projects
    whose prearchive they may use; the others are passed over as if they did not exist, so the
    routing chain goes on and ends, at worst, in the uploader's own Unassigned space."""

    def find(values: list[str]) -> dict[str, str]:
        found = rules.find_projects(values)
        return {value: pk for value, pk in found.items() if context.may_route_to(pk)}

    return rules.find_projects if context.user is None else find


def route(ds: Dataset, context: IngestContext) -> routing.Route:
    """Where this instance goes, by the routing chain (§5.4) with the context's explicit values first.
    A project found in the headers counts only if the uploader may use its prearchive, exactly as an
    explicit one (the receiver has no uploader: its routing is XNAT's)."""
    project = _explicit_project(context)
    subject = layout.check_label(context.subject, "Subject label") if context.subject else ""
    session = layout.check_label(context.session, "Session label") if context.session else ""
    return routing.route_instance(
        ds,
        rules.rule_set(routing.receiver_rules(*context.receiver.routing) if context.receiver else None),
        _usable_projects(context),
        project_id=project.pk if project else None,
        subject=subject,
        session=session,
    )


# --- sessions -------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    """One instance routed and anonymized, on its way to a session: what claiming and recording need."""

    index: int
    context: IngestContext
    found: routing.Route
    study: Study
    sop_instance_uid: str = ""
    target: Path | None = None
    fields: dict = field(default_factory=dict)
    session: PrearchiveSession | None = None

    @property
    def key(self) -> tuple:
        return claims.key(self.found, self.study, self.context)


def _read(source: Path | str | BinaryIO) -> Dataset:
    """The instance (dicomio's `read_instance`); InvalidDicom when it is not one."""
    try:
        return read_instance(source)
    except dicom_errors.InvalidDicom as exc:
        raise InvalidDicom(str(exc)) from exc


def _write(ds: Dataset, target: Path) -> tuple[int, str]:
    """The instance written at `target` (dicomio's `write_instance`): (size, md5)."""
    try:
        return write_instance(ds, target)
    except dicom_errors.InvalidDicom as exc:
        raise InvalidDicom(str(exc)) from exc


# --- the flow -------------------------------------------------------------------------------------
def _prepare(source: Path | str | BinaryIO | Dataset, context: IngestContext, index: int):
    """Read, route and anonymize one instance: a _Prepared and its dataset, or None when rejected."""
    ds = source if isinstance(source, Dataset) else _read(source)
    found = route(ds, context)
    if context.anonymizes:
        site = anonymize_services.site_script_for_ingest()
        if site is not None:
            script, record_info = site
            variables = {
                "project": found.project_id or "Unassigned",
                "subject": found.subject,
                "session": found.session,
            }
            services = anonymize_services.site_script_services()
            if script.apply(ds, variables, record=record_info, services=services).rejected:
                log.info("site script rejected instance for %s/%s", variables["project"], found.session)
                return None
            if not header_text(ds, 0x00080018) or not header_text(ds, 0x00080016):
                raise InvalidDicom("The site script removed the SOP Class UID or SOP Instance UID")
    prepare_meta(ds, context.receiver.calling_ae if context.receiver else "")
    item = _Prepared(
        index=index,
        context=context,
        found=found,
        study=Study(
            instance_uid=header_text(ds, 0x0020000D)[:64],
            date=header_text(ds, 0x00080020),
            time=header_text(ds, 0x00080030),
        ),
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
    session = claimed.get(item.key) or claims.session_for(item.found, item.study, item.context)
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
    if target == item.target:
        pass  # the same session, reopened (a study sent again into a READY session): already in place
    elif _recorded_elsewhere(item):
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
            size, md5 = _write(ds, item.target)
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
                recorded = record_files(
                    session,
                    [(item.sop_instance_uid, item.fields) for item in group],
                    upload=group[0].context.upload,
                )
            except SessionLeftReceiving:
                for item in group:
                    claims.forget(item.key)
                retry.extend(group)
                continue
            except (
                Exception
            ) as exc:  # the database failed: files stay, found by rebuild or redone by the spool
                for item in group:
                    outcomes[item.index] = exc
                continue
            for item, result in zip(group, recorded, strict=True):
                claims.remember(item.key, session)
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
