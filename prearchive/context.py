"""What ingest knows of an instance besides its header: where it came from and what its sender asked
for (explicit project and labels, prevent_anon, auto-archive), and what became of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User as Account

from prearchive import routing
from prearchive.models import AutoArchive, PrearchiveFile, PrearchiveSession
from xnatlite import permissions
from xnatlite.models import Project


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
    upload: str = ""  # the upload this instance belongs to (prearchive/uploads.py), if any
    _project: Project | None = field(default=None, repr=False)
    # project ID -> whether `user` may use its prearchive, for the projects routing found (ingest.route)
    _usable: dict[str, bool] = field(default_factory=dict, repr=False)

    @property
    def anonymizes(self) -> bool:
        """Whether the site script applies: not when asked so, nor for a receiver that does not."""
        return not self.prevent_anon and (self.receiver is None or self.receiver.anonymize)

    def auto_archive_column(self, found: routing.Route, project: Project | None) -> str:
        """The `autoarchive` column of a new session: this context's override, else `AA:`, else the
        project's prearchive code (xnat-spec.md §4)."""
        if project is None:
            return AutoArchive.MANUAL  # Unassigned is never auto-archived (§3.6)
        wanted = self.auto_archive if self.auto_archive is not None else found.auto_archive
        if isinstance(wanted, str):
            return AutoArchive(wanted)
        if wanted is True:
            return AutoArchive.AUTO_ARCHIVE
        if wanted is False:
            return AutoArchive.MANUAL
        return AutoArchive.for_code(project.prearchive_code)

    @property
    def uploader(self) -> Account | None:
        """The account behind this upload, if a person's (None: the receiver, a system actor)."""
        user = self.user
        return user if isinstance(user, Account) and user.is_authenticated else None

    def may_route_to(self, project_id: str) -> bool:
        """Whether routing may put this instance into that project: always for the receiver and for
        system actors that ingest; for a person, only a project whose prearchive they may use, as for
        an explicit project (issue 14: any account could write into any project by naming it in
        Study Description). Asked once per project and upload."""
        if self.user is None:
            return True
        if project_id not in self._usable:
            project = Project.objects.filter(pk=project_id).first()
            self._usable[project_id] = project is not None and permissions.can(
                self.user, "prearchive", project
            )
        return self._usable[project_id]

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
