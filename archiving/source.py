"""What archiving needs to know about the prearchive session it archives, and nothing more.

Archiving comes after the prearchive and never imports it: the prearchive hands it a session as an
`ArchiveSource` (prearchive/handoff.py `SessionSource`) and records how the archive ended itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time
from pathlib import Path
from typing import NamedTuple, Protocol

from xnatlite.models import Project


class SourceFile(NamedTuple):
    """One received instance of the session, as its prearchive row describes it."""

    path: str  # relative to the data root
    size: int
    md5: str
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    scan_id: str
    frames: int


class ArchiveSource(Protocol):
    """A prearchive session, as archiving reads it. `key` names its journal (archiving/journals.py)."""

    key: int
    project: Project | None
    label: str
    subject_label: str
    folder_name: str
    study_instance_uid: str
    scan_date: date | None
    scan_time: time | None
    visit: str
    protocol: str
    prevent_anon: bool
    file_count: int

    @property
    def folder(self) -> Path: ...

    @property
    def url(self) -> str: ...

    @property
    def owning_project(self) -> Project | None: ...

    def files(self) -> Iterable[SourceFile]:
        """Every instance, by scan ID and instance number."""

    def scans(self) -> list[tuple[str, str]]:
        """(scan ID, Series Instance UID) of every scan, by scan ID."""

    def modalities(self) -> set[str]: ...

    def sop_instance_uids(self) -> Iterable[str]:
        """Every SOP Instance UID (a queryset serves as a subquery)."""

    def sync_with_disk(self) -> int:
        """Make the rows match the files (a file a dead process wrote without its row is archived too);
        the number of files that are not DICOM."""

    def lock_for_commit(self) -> bool:
        """Inside the commit's transaction: lock the session; False if it is no longer being archived."""

    def remove_for_commit(self) -> None:
        """Inside the commit's transaction: the session leaves the prearchive with the commit."""

    def exists(self) -> bool:
        """Whether the session is still in the prearchive (False once an archive of it committed)."""
