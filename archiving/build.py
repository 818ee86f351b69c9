"""Building an archived session beside its final place (step 2 of archiving/service.py).

Each prearchive file is either written anew (project script, final labels in Patient Name and Patient
ID) or, when nothing in it must change, hard-linked as it is; a merge first links the existing session
in, so its files are never written to. The build folder is private until it is renamed into place:
files go straight to their names there, without temporary names.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from anonymize import services as anonymize_services
from anonymize.dicomedit import InvalidDicomFile
from anonymize.dicomedit.elements import set_text
from archive import catalogs, unixgroups
from archive.models import File, ImageSession
from archiving import journals
from archiving.source import ArchiveSource
from archiving.validation import DELETE, ArchiveRequest, Target
from dicomio import files as dicomfiles
from dicomio import headers
from xnatlite import disk, layout
from xnatlite.errors import ArchiveConflict

log = logging.getLogger(__name__)

DICOM = "DICOM"
PROGRESS_EVERY = 1000  # files between two progress lines in the log
PATIENT_NAME, PATIENT_ID = 0x00100010, 0x00100020
SOP_CLASS_UID, SOP_INSTANCE_UID, SERIES_INSTANCE_UID = 0x00080016, 0x00080018, 0x0020000E


@dataclass
class Placed:
    """One instance written or linked into the build folder."""

    scan_id: str
    name: str
    size: int
    md5: str
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    frames: int


@dataclass
class Build:
    token: str
    folder: Path
    final: Path
    merge: bool
    placed: list[Placed] = field(default_factory=list)
    replaced: dict[int, File] = field(default_factory=dict)  # File pk -> the archived file it replaces
    rejected: int = 0
    linked: int = 0
    headers: dict[str, Dataset] = field(default_factory=dict)  # archived scan ID -> a header of it


def _source(path: str, folder: str, prefix: str) -> str:
    """A prearchive file's path, checked to lie in its session folder without resolving each one.

    Paths in the loop over files are strings: pathlib's joins cost as much as hard-linking a file."""
    relative = path[len(prefix) :] if path.startswith(prefix) else ""
    if not relative or ".." in relative.split("/"):
        return str(layout.absolute_path(path))  # not where it should be: let the full check decide
    return f"{folder}/{relative}"


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _header(path: str) -> Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)


def build_beside(session: ArchiveSource, target: Target, request: ArchiveRequest) -> Build:
    """Step 2 of archiving/service.py: the whole archived session in a folder beside its place."""
    project = target.project
    existing = target.session
    final = target.folder
    label = final.name
    arc = unixgroups.prepare_project_folder(project)
    token = uuid.uuid4().hex[:12]
    # A merge swaps the new tree with the old one; a session without a folder yet is simply renamed in.
    build = Build(
        token, arc / f".build-{label}-{token}", final, merge=existing is not None and final.exists()
    )
    build.folder.mkdir()
    journal = journals.read(session.key) or {}
    journal.update(
        token=token,
        build=str(build.folder),
        final=str(final),
        build_inode=disk.inode(build.folder),
        merge=build.merge,
        prearchive=str(session.folder),
        project=project.id,
        label=label,
        replaced=[],
    )
    journals.write(session.key, journal)
    if build.merge:
        disk.link_tree(final, build.folder)

    archived: dict[str, File] = {}  # SOP Instance UID -> archived file (merges)
    names: dict[tuple[str, str], File] = {}  # (scan ID, name) -> archived file
    if existing is not None:
        for file in File.objects.filter(
            resource__scan__session=existing, resource__label=DICOM
        ).select_related("resource__scan"):
            archived[file.sop_instance_uid] = file
            names[(file.resource.scan.scan_id, file.name)] = file
    may_replace = request.overwrite == DELETE or request.overwrite_files
    script_and_record = (
        None if session.prevent_anon else anonymize_services.project_script_for_archive(project)
    )
    variables = {"project": project.id, "subject": target.subject_label, "session": label}
    # The subject's secret date shift, the lookup table, getURL: one set per session, asked lazily.
    script_services = (
        anonymize_services.project_script_services(project, target.subject_label)
        if script_and_record is not None
        else None
    )
    folders: dict[str, str] = {}  # archived scan ID -> its DICOM folder in the build
    seen: set[str] = set()

    def collide(scan_id: str, name: str, sop_instance_uid: str) -> None:
        """Refuse, or (when the mode allows) take out of the build, an archived copy of this instance."""
        if not archived and not names and sop_instance_uid not in seen:
            return  # a new session: nothing to collide with
        old = archived.get(sop_instance_uid) or names.get((scan_id, name))
        if old is None and sop_instance_uid not in seen:
            return
        if old is None or not may_replace:
            raise ArchiveConflict(
                "[15] Duplicate DICOM file uploaded: instance "
                f"{sop_instance_uid} is already archived in session {label}; "
                "archive it again choosing Replace to replace it"
            )
        build.replaced[old.pk] = old
        old_relative = Path(old.path).relative_to(layout.relative_path(final)) if old.path else None
        if old_relative is not None:
            (build.folder / old_relative).unlink(missing_ok=True)

    prearchive_folder, prearchive_prefix = str(session.folder), layout.relative_path(session.folder) + "/"
    with FileWriter() as writer:
        for number, row in enumerate(session.files(), start=1):
            if number % PROGRESS_EVERY == 0:
                log.info("archiving %s: %d of %d files", session.url, number, session.file_count)
            scan_id = target.scan_ids.get(row.scan_id, row.scan_id)
            name = layout.check_file_name(row.path.rsplit("/", 1)[-1])
            folder = folders.get(scan_id)
            if folder is None:
                path = build.folder / "SCANS" / layout.scan_folder_name(scan_id) / DICOM
                path.mkdir(parents=True, exist_ok=True)
                folder = folders[scan_id] = str(path)
            source = _source(row.path, prearchive_folder, prearchive_prefix)
            destination = f"{folder}/{name}"
            if script_and_record is None and headers.holds_labels(source, target.subject_label, label):
                # Nothing to change in this file: the archive takes it as it is, without rewriting it.
                collide(scan_id, name, row.sop_instance_uid)
                if build.merge:
                    _unlink(destination)  # a replaced file's link
                if disk.link_or_copy(source, destination):
                    build.linked += 1
                placed = Placed(
                    scan_id,
                    name,
                    row.size,
                    row.md5,
                    row.sop_class_uid,
                    row.sop_instance_uid,
                    row.series_instance_uid,
                    row.frames,
                )
                if scan_id not in build.headers:
                    build.headers[scan_id] = _header(source)
                seen.add(placed.sop_instance_uid)
                build.placed.append(placed)
                continue
            ds = dicomfiles.read_instance(source)  # the pixel data stays in the file (copied by the kernel)
            if script_and_record is not None:
                script, record = script_and_record
                assert script_services is not None
                if script.apply(ds, variables, record=record, services=script_services).rejected:
                    build.rejected += 1
                    continue
            set_text(ds, PATIENT_NAME, target.subject_label)  # always: DESIGN.md "Anonymization"
            set_text(ds, PATIENT_ID, label)
            sop_instance_uid = dicomfiles.header_text(ds, SOP_INSTANCE_UID)
            if not sop_instance_uid:
                raise InvalidDicomFile(f"The project script removed the SOP Instance UID of {name}")
            meta = getattr(ds, "file_meta", None)
            if meta is not None and "MediaStorageSOPInstanceUID" in meta:
                meta.MediaStorageSOPInstanceUID = sop_instance_uid
            collide(scan_id, name, sop_instance_uid)
            if build.merge:
                _unlink(destination)  # a replaced file's link: never write into it
            placed = Placed(
                scan_id,
                name,
                0,
                "",
                dicomfiles.header_text(ds, SOP_CLASS_UID) or row.sop_class_uid,
                sop_instance_uid,
                dicomfiles.header_text(ds, SERIES_INSTANCE_UID) or row.series_instance_uid,
                row.frames,
            )
            seen.add(sop_instance_uid)
            build.placed.append(placed)
            # As read (a Part 10 file): encoded here, written and hashed on the writer's threads.
            writer.submit(destination, dicomfiles.encode_pieces(ds), source, placed)
            if scan_id not in build.headers:
                ds.pop(0x7FE00010, None)  # keep the header only
                build.headers[scan_id] = ds
    if not build.placed:
        raise ArchiveConflict(
            "No instance is left to archive (the project script rejected all of them)"
            if build.rejected
            else "The session has no files"
        )
    write_catalogs(build, existing, final)
    journal["replaced"] = [
        str(Path(f.path).relative_to(layout.relative_path(final))) for f in build.replaced.values()
    ]
    journal["catalogs"] = sorted(
        f"SCANS/{scan_id}/{DICOM}/{catalogs.dicom_catalog_name(scan_id)}"
        for scan_id in {p.scan_id for p in build.placed}
    )
    journals.write(session.key, journal)
    gid = unixgroups.project_gid(project)
    if gid is not None:
        unixgroups.apply_to_tree(build.folder, gid)
    return build


# --- writing ----------------------------------------------------------------------------------
def _write_new(path: Path, pieces: list, source: str) -> tuple[int, str]:
    """Create `path` (never an existing file: that could be a link to an archived one) from the pieces
    of `dicomfiles.encode_pieces` of an instance read from `source`; (size, md5)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        return dicomfiles.write_pieces(fd, pieces, source)
    finally:
        os.close(fd)


class FileWriter:
    """Writes encoded files and computes their MD5 on other threads, while the caller encodes the next
    one: copying and hashing release the GIL, so on two cores the archive costs little more than the
    encoding itself. At most `depth` files are in flight, so memory stays bounded (their pixel data
    is not in memory at all: it is copied from the prearchive file). Each submitted record gets
    `.size` and `.md5` once its file is written; the first failure is raised."""

    def __init__(self, threads: int = 2, depth: int = 8):
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="archive-writer")
        self.pending: deque = deque()
        self.depth = depth

    def submit(self, path: Path, pieces: list, source: str, record) -> None:
        self.pending.append((self.pool.submit(_write_new, path, pieces, source), record))
        while len(self.pending) > self.depth:
            self._finish_one()

    def _finish_one(self) -> None:
        future, record = self.pending.popleft()
        record.size, record.md5 = future.result()

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            while self.pending:
                if kind is not None:
                    self.pending.popleft()[0].cancel()
                else:
                    self._finish_one()
        finally:
            self.pool.shutdown(wait=True)


def write_catalogs(build: Build, existing: ImageSession | None, final: Path) -> None:
    """`scan_{id}_catalog.xml` for every scan that got files, listing old (kept) and new files."""
    by_scan: dict[str, list[catalogs.CatalogEntry]] = defaultdict(list)
    uids: dict[str, str] = {}
    if existing is not None:
        touched = {p.scan_id for p in build.placed}
        kept = (
            File.objects.filter(resource__scan__session=existing, resource__label=DICOM)
            .filter(resource__scan__scan_id__in=touched)
            .exclude(pk__in=list(build.replaced))
            .select_related("resource__scan")
        )
        for file in kept:
            scan = file.resource.scan
            uids.setdefault(scan.scan_id, scan.series_instance_uid)
            by_scan[scan.scan_id].append(
                catalogs.CatalogEntry(file.name, file.md5, file.sop_instance_uid, DICOM, "RAW")
            )
    for placed in build.placed:
        uids.setdefault(placed.scan_id, placed.series_instance_uid)
        by_scan[placed.scan_id].append(
            catalogs.CatalogEntry(placed.name, placed.md5, placed.sop_instance_uid, DICOM, "RAW")
        )
    for scan_id, entries in by_scan.items():
        entries.sort(key=lambda e: e.name)
        path = build.folder / "SCANS" / scan_id / DICOM / catalogs.dicom_catalog_name(scan_id)
        catalogs.write_catalog(path, entries, dicom=True, uid=uids[scan_id], label=DICOM)
