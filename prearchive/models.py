"""The prearchive: sessions received but not yet archived, their files, and the status machine.

Statuses, columns and transitions follow XNAT (xnat-spec.md §3.2-3.4) because clients poll and show
them. Every status change goes through `change_status`, which checks `TRANSITIONS` and updates with a
condition on the old status, so two processes never both win.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from prearchive import routing
from xnatlite import layout
from xnatlite.errors import InvalidInput, InvalidStatus
from xnatlite.models import PrearchiveCode, Project


class Status(models.TextChoices):
    """XNAT's `PrearcUtils.PrearcStatus` vocabulary, spelled exactly as XNAT clients expect (§3.3)."""

    RECEIVING = "RECEIVING"
    RECEIVING_INTERRUPT = "RECEIVING_INTERRUPT"
    BUILDING = "BUILDING"
    READY = "READY"
    ARCHIVING = "ARCHIVING"
    MOVING = "MOVING"
    DELETING = "DELETING"
    SEPARATING = "SEPARATING"
    CONFLICT = "CONFLICT"
    ERROR = "ERROR"
    # An operation was requested and waits for a worker.
    QUEUED_BUILDING = "QUEUED_BUILDING"
    QUEUED_ARCHIVING = "QUEUED_ARCHIVING"
    QUEUED_MOVING = "QUEUED_MOVING"
    QUEUED_DELETING = "QUEUED_DELETING"
    QUEUED_SEPARATING = "QUEUED_SEPARATING"
    # Locked forms: a filesystem operation (or an admin editing files by hand) holds the session.
    LOCKED_RECEIVING = "_RECEIVING"
    LOCKED_RECEIVING_INTERRUPT = "_RECEIVING_INTERRUPT"
    LOCKED_BUILDING = "_BUILDING"
    LOCKED_ARCHIVING = "_ARCHIVING"
    LOCKED_MOVING = "_MOVING"
    LOCKED_DELETING = "_DELETING"
    LOCKED_SEPARATING = "_SEPARATING"
    LOCKED_CONFLICT = "_CONFLICT"


S = Status
LOCKED = frozenset(s for s in Status if s.value.startswith("_"))
QUEUED = frozenset(s for s in Status if s.value.startswith("QUEUED_"))

# New data for the same (project, StudyInstanceUID, label) joins a row in these statuses as it is.
ACCEPTING = frozenset(
    {S.RECEIVING, S.RECEIVING_INTERRUPT, S.LOCKED_RECEIVING, S.LOCKED_RECEIVING_INTERRUPT}
    | {S.LOCKED_BUILDING, S.LOCKED_CONFLICT}
)
# New data reopens a row in these statuses: back to RECEIVING, same row and folder (§3.4).
REOPENING = frozenset({S.READY, S.CONFLICT, S.ERROR, S.QUEUED_BUILDING})
# New data arriving while the row is archived, moved, deleted or separated starts a NEW row in a new
# timestamp folder: the intent of XNAT's interruptable flag (§3.3, DESIGN.md "Prearchive statuses").
FORKING = frozenset(Status) - ACCEPTING - REOPENING - {S.BUILDING}
# Statuses a user may act on (archive, delete, move, rebuild) from the UI and the REST API.
ACTIONABLE = frozenset({S.READY, S.CONFLICT, S.ERROR})


def require_actionable(session: PrearchiveSession, what: str) -> None:
    """InvalidStatus unless people may act on the session now (`what`: "archived", "deleted", ...)."""
    if session.status not in ACTIONABLE:
        raise InvalidStatus(
            f"Session {session.folder_name} is {session.status}; only READY, CONFLICT or ERROR "
            f"sessions can be {what}"
        )


_OPERATIONS = (S.ARCHIVING, S.MOVING, S.DELETING, S.SEPARATING)
_RECOVER = {S.READY, S.ERROR}  # reset-status / failure: any transient status may fall back to these

# old status -> the statuses it may change to. Reading it top to bottom tells the life of a session:
#   RECEIVING --idle--> BUILDING --> READY --archive--> QUEUED_ARCHIVING --> ARCHIVING --> (row removed)
#                                                                                      --> CONFLICT | ERROR
# Late data: READY/CONFLICT/ERROR --> RECEIVING, BUILDING --> RECEIVING_INTERRUPT --> RECEIVING.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.RECEIVING: frozenset(
        {S.QUEUED_BUILDING, S.BUILDING, S.QUEUED_DELETING, S.DELETING, S.QUEUED_MOVING, S.MOVING} | _RECOVER
    ),
    S.RECEIVING_INTERRUPT: frozenset({S.RECEIVING, S.BUILDING} | _RECOVER),
    S.QUEUED_BUILDING: frozenset({S.BUILDING, S.RECEIVING} | _RECOVER),
    # A build ends READY or ERROR; data arriving during it interrupts; a builder that died leaves the
    # row to be put back to RECEIVING by recovery; XNAT goes on to ARCHIVING when the session XML
    # already names an archived session, and auto-archive queues it.
    S.BUILDING: frozenset(
        {S.READY, S.ERROR, S.RECEIVING_INTERRUPT, S.RECEIVING, S.QUEUED_ARCHIVING, S.ARCHIVING}
    ),
    S.READY: frozenset(
        {S.RECEIVING, S.QUEUED_BUILDING, S.BUILDING, S.CONFLICT, S.ERROR}
        | {S.QUEUED_ARCHIVING, S.QUEUED_MOVING, S.QUEUED_DELETING, S.QUEUED_SEPARATING}
        | set(_OPERATIONS)
    ),
    S.QUEUED_ARCHIVING: frozenset({S.ARCHIVING, S.CONFLICT} | _RECOVER),
    S.QUEUED_MOVING: frozenset({S.MOVING} | _RECOVER),
    S.QUEUED_DELETING: frozenset({S.DELETING} | _RECOVER),
    S.QUEUED_SEPARATING: frozenset({S.SEPARATING} | _RECOVER),
    S.ARCHIVING: frozenset({S.CONFLICT} | _RECOVER),
    S.MOVING: frozenset({S.CONFLICT} | _RECOVER),
    S.DELETING: frozenset(_RECOVER),
    S.SEPARATING: frozenset(_RECOVER),
}
# CONFLICT and ERROR allow what READY allows (retry, delete, move, rebuild) and READY itself.
TRANSITIONS[S.CONFLICT] = TRANSITIONS[S.READY] | {S.READY}
TRANSITIONS[S.ERROR] = TRANSITIONS[S.READY] | {S.READY}
# Locking and unlocking (`X` <-> `_X`); a locked row changes only by being unlocked or reset.
for _locked in LOCKED:
    _base = Status(_locked.value[1:])
    TRANSITIONS[_base] = TRANSITIONS[_base] | {_locked}
    TRANSITIONS[_locked] = frozenset({_base} | _RECOVER)
del _locked, _base


class AutoArchive(models.TextChoices):
    """The `autoarchive` column: the prearchive code captured when the row was created (§4)."""

    MANUAL = "Manual"
    AUTO_ARCHIVE = "AutoArchive"
    AUTO_ARCHIVE_OVERWRITE = "AutoArchiveOverwrite"

    @classmethod
    def for_code(cls, code: int) -> AutoArchive:
        automatic: dict[int, AutoArchive] = {
            PrearchiveCode.AUTO_ARCHIVE: cls.AUTO_ARCHIVE,
            PrearchiveCode.AUTO_ARCHIVE_OVERWRITE: cls.AUTO_ARCHIVE_OVERWRITE,
        }
        return automatic.get(code, cls.MANUAL)


class PrearchiveSession(models.Model):
    """One prearchive session: a row of XNAT's prearchive table and one folder on disk (§3.1, §3.2)."""

    audit_type = "prearchive_session"

    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        related_name="prearchive_sessions",
        on_delete=models.CASCADE,
        help_text="empty for Unassigned",
    )
    timestamp = models.CharField(max_length=18, help_text="folder yyyyMMdd_HHmmssSSS")
    folder_name = models.CharField(max_length=layout.LABEL_MAX_LENGTH)
    label = models.CharField("session label", max_length=layout.LABEL_MAX_LENGTH)
    subject_label = models.CharField(max_length=layout.LABEL_MAX_LENGTH, blank=True)
    study_instance_uid = models.CharField("StudyInstanceUID", max_length=64, blank=True)
    scan_date = models.DateField(null=True, blank=True)
    scan_time = models.TimeField(null=True, blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.RECEIVING)
    status_reason = models.TextField(blank=True, help_text="why the session is in ERROR or CONFLICT")
    auto_archive = models.CharField(max_length=32, choices=AutoArchive.choices, default=AutoArchive.MANUAL)
    prevent_anon = models.BooleanField(default=False, help_text="the site script was not applied")
    prevent_auto_commit = models.BooleanField(default=False, help_text="the idle builder leaves it alone")
    source = models.CharField(max_length=64, blank=True)
    visit = models.CharField(max_length=255, blank=True)
    protocol = models.CharField(max_length=255, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    receiver_ae = models.CharField("receiver AE title", max_length=16, blank=True)
    calling_ae = models.CharField(
        "sender AE title",
        max_length=16,
        blank=True,
        help_text="the calling AE title of the association that began it",
    )
    open_upload = models.CharField(
        max_length=64,
        blank=True,
        help_text="an upload writing into the session, or one that was cut off: it is not built until the "
        "upload finishes, is sent again, or someone commits it",
    )
    archive_request = models.JSONField(
        null=True,
        blank=True,
        help_text="what was asked when the session was queued for archiving, and by whom: the sweep "
        "queues its task again when it was lost",
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        help_text="the account whose upload created the session (empty for the DICOM receiver); "
        "an Unassigned session is theirs to see and act on",
    )
    routing_values = models.TextField(
        blank=True,
        help_text="Unassigned: the values routing looked for a project by, one a line between line ends "
        "(an ID or alias naming one of them needs a site admin); empty when not recorded yet",
    )
    created_at = models.DateTimeField("uploaded", default=now)
    last_modified = models.DateTimeField(default=now, db_index=True)
    file_count = models.IntegerField(default=0)
    scan_count = models.IntegerField(default=0)
    total_size = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint("project", "timestamp", "folder_name", name="prearchive_folder_unique"),
            models.UniqueConstraint(
                "timestamp",
                "folder_name",
                condition=Q(project__isnull=True),
                name="prearchive_unassigned_folder_unique",
            ),
            # At most one row receives a given study under a given label: two associations sending
            # the same study at once end in one session (ingest retries on this constraint).
            models.UniqueConstraint(
                "project",
                "study_instance_uid",
                "label",
                condition=Q(status="RECEIVING"),
                name="prearchive_one_receiving_per_study",
            ),
            # Unassigned data is kept apart by who uploaded it (nobody: the receiver), so that one
            # account's upload never joins another's session (issue 14).
            models.UniqueConstraint(
                "study_instance_uid",
                "label",
                condition=Q(status="RECEIVING", project__isnull=True, uploaded_by__isnull=True),
                name="prearchive_one_receiving_per_unassigned_study",
            ),
            models.UniqueConstraint(
                "study_instance_uid",
                "label",
                "uploaded_by",
                condition=Q(status="RECEIVING", project__isnull=True, uploaded_by__isnull=False),
                name="prearchive_one_receiving_per_uploaders_unassigned_study",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "study_instance_uid", "label"]),
            models.Index(fields=["status", "last_modified"]),
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def project_name(self) -> str:
        """The `project` column as XNAT reports it: the project ID, or `Unassigned`."""
        return self.project_id or "Unassigned"

    @property
    def url(self) -> str:
        """XNAT's `url` column: `/prearchive/projects/{project}/{timestamp}/{folder}`."""
        return f"/prearchive/projects/{self.project_name}/{self.timestamp}/{self.folder_name}"

    @property
    def folder(self):
        """The session's folder on disk (no project level for Unassigned)."""
        return layout.prearchive_session_dir(self.project_id, self.timestamp, self.folder_name)

    @property
    def owning_project(self) -> Project | None:
        """None for Unassigned: only site admins, and the account that uploaded it, may act on it
        (xnatlite/permissions.py)."""
        return self.project

    @staticmethod
    def routing_text(values: list[str] | tuple[str, ...]) -> str:
        """`routing_values` of these values: those that could be a project ID, one a line, with a line
        end before and after each so that a whole value is found by `\nVALUE\n`."""
        names = dict.fromkeys(v for v in values if layout.is_label(v))
        return "\n" + "".join(f"{name}\n" for name in names)

    @property
    def uploader_id(self) -> int | None:
        """Who uploaded Unassigned data (xnatlite/permissions.py reads it); None for the receiver's."""
        return self.uploaded_by_id if self.project_id is None else None

    @property
    def is_unassigned(self) -> bool:
        return self.project_id is None


class PrearchiveFile(models.Model):
    """One received DICOM instance of a prearchive session."""

    session = models.ForeignKey(PrearchiveSession, related_name="files", on_delete=models.CASCADE)
    path = models.CharField(max_length=2048, help_text="path relative to the data root")
    size = models.BigIntegerField(default=0)
    md5 = models.CharField("MD5", max_length=32, blank=True)
    sop_class_uid = models.CharField("SOPClassUID", max_length=64)
    sop_instance_uid = models.CharField("SOPInstanceUID", max_length=64)
    study_instance_uid = models.CharField("StudyInstanceUID", max_length=64, blank=True)
    series_instance_uid = models.CharField("SeriesInstanceUID", max_length=64, blank=True)
    series_number = models.CharField(max_length=16, blank=True)
    scan_id = models.CharField("scan ID", max_length=layout.LABEL_MAX_LENGTH)
    modality = models.CharField(max_length=16, blank=True)
    series_description = models.CharField(max_length=255, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    frames = models.IntegerField(default=1)
    received_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["session_id", "scan_id", "instance_number", "id"]
        constraints = [
            models.UniqueConstraint("session", "sop_instance_uid", name="prearchive_file_sop_unique")
        ]
        indexes = [models.Index(fields=["session", "series_instance_uid"])]

    def __str__(self) -> str:
        return self.path

    @property
    def absolute_path(self):
        return layout.absolute_path(self.path)


def change_status(
    session: PrearchiveSession,
    new: Status | str,
    *,
    expected: Status | str | None = None,
    reason: str | None = None,
    only_if: Q | None = None,
    **fields,
) -> bool:
    """Move a session to `new` if it is still in `expected` (default: its status as loaded).

    Refuses transitions not in TRANSITIONS with InvalidStatus. Returns False, changing nothing, when
    another process changed the status first (the conditional UPDATE matched no row); on success the
    instance is updated too. `reason` is stored for ERROR/CONFLICT (and cleared otherwise); `only_if`
    adds a condition (e.g. still idle); extra `fields` are written in the same UPDATE.
    """
    old = Status(expected if expected is not None else session.status)
    new = Status(new)
    if new not in TRANSITIONS.get(old, frozenset()):
        raise InvalidStatus(f"A prearchive session cannot go from {old} to {new}")
    values = {"status": new, "last_modified": now(), **fields}
    values["status_reason"] = reason if reason is not None else ""
    rows = PrearchiveSession.objects.filter(pk=session.pk, status=old)
    if only_if is not None:
        rows = rows.filter(only_if)
    updated = rows.update(**values)
    if updated:
        for name, value in values.items():
            setattr(session, name, value)
    return bool(updated)


def validate_rules(value: str) -> None:
    """Django validator of a routing rule list (one rule per line, xnat-spec.md §5.5)."""
    try:
        routing.parse_rules(value)
    except InvalidInput as exc:
        raise ValidationError(exc.message) from None


class SiteRoutingRules(models.Model):
    """The site-wide custom routing rules (XNAT's `dicom/projectRules` ... `dicom/aaRules`, §5.5),
    edited by site admins in Django admin; every way in routes with them (prearchive/rules.py).

    One row; each rule list applies only while it is enabled.
    """

    project_rules = models.TextField(blank=True, validators=[validate_rules])
    project_rules_enabled = models.BooleanField(default=True)
    subject_rules = models.TextField(blank=True, validators=[validate_rules])
    subject_rules_enabled = models.BooleanField(default=True)
    session_rules = models.TextField(blank=True, validators=[validate_rules])
    session_rules_enabled = models.BooleanField(default=True)
    aa_rules = models.TextField(
        "auto-archive rules",
        blank=True,
        validators=[validate_rules],
        help_text="a rule whose value is true or false decides auto-archive",
    )
    aa_rules_enabled = models.BooleanField("auto-archive rules enabled", default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "dicom_receiver_siteroutingrules"  # its table from when the receiver app owned it
        verbose_name = "site routing rules"
        verbose_name_plural = "site routing rules"

    def __str__(self) -> str:
        return "Site routing rules"

    @classmethod
    def load(cls) -> SiteRoutingRules:
        """The one row (an unsaved empty one when none was saved yet)."""
        return cls.objects.order_by("pk").first() or cls()
