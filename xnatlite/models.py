"""Projects, their aliases and the audit trail: what every part of xnatlite decides access by and
records into (xnat-spec.md §1.2, §2). Subjects, sessions and what they hold are in archive/models.py.

The tables keep the names they had when these models lived in the archive app (`archive_project`,
`archive_projectalias`, `archive_auditevent`), so moving them changed no data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from xnatlite import layout


class Accessibility(models.TextChoices):
    """What people without a role see (xnat-spec.md §2.3)."""

    PRIVATE = "private", "Private: only project users see it"
    PROTECTED = "protected", "Protected: everyone sees that it exists, only project users see data"
    PUBLIC = "public", "Public: everyone signed in may read and download"


class PrearchiveCode(models.IntegerChoices):
    """What happens to a project's new sessions once received (xnat-spec.md §4)."""

    MANUAL = 0, "Keep in the prearchive for review"
    AUTO_ARCHIVE = 4, "Archive automatically, never overwrite"
    AUTO_ARCHIVE_OVERWRITE = 5, "Archive automatically and overwrite existing files"


class Role(models.TextChoices):
    """A user's role in a project; each is a Django group `{project}_{role}` (xnat-spec.md §2.1)."""

    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"
    COLLABORATOR = "collaborator", "Collaborator"


class Project(models.Model):
    id = models.CharField(
        "project ID", primary_key=True, max_length=layout.LABEL_MAX_LENGTH, validators=[layout.validate_label]
    )
    secondary_id = models.CharField("running title", max_length=255, blank=True)
    name = models.CharField("project title", max_length=255)
    description = models.TextField(blank=True)
    keywords = models.CharField(max_length=255, blank=True)
    pi = models.CharField("principal investigator", max_length=255, blank=True)
    accessibility = models.CharField(
        max_length=16, choices=Accessibility.choices, default=Accessibility.PRIVATE
    )
    prearchive_code = models.IntegerField(choices=PrearchiveCode.choices, default=PrearchiveCode.MANUAL)
    unix_group = models.CharField(
        max_length=32,
        blank=True,
        help_text="Unix group that owns the project's archive folder (with XNATLITE_PROJECT_GROUPS=true)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        db_table = "archive_project"
        ordering = ["id"]
        permissions = [
            ("read_data", "Read and download the project's data"),
            ("edit_data", "Create and modify the project's subjects, sessions, scans and prearchive"),
            ("delete_data", "Delete the project's archived data"),
            ("manage_project", "Change the project's settings and users"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def title(self) -> str:
        return self.secondary_id or self.name or self.id


class ProjectAlias(models.Model):
    """Another ID that names a project wherever a project ID is looked up (routing, REST)."""

    project = models.ForeignKey(Project, related_name="aliases", on_delete=models.CASCADE)
    alias = models.CharField(
        max_length=layout.LABEL_MAX_LENGTH, unique=True, validators=[layout.validate_label]
    )

    class Meta:
        db_table = "archive_projectalias"
        ordering = ["alias"]
        verbose_name_plural = "project aliases"

    def __str__(self) -> str:
        return self.alias


class AuditEvent(models.Model):
    """Who did what to which object, when. Holds ids and labels, never DICOM header values."""

    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True, help_text="kept when the account is deleted")
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=255, blank=True)
    object_label = models.CharField(max_length=512, blank=True)
    project_id = models.CharField(max_length=layout.LABEL_MAX_LENGTH, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "archive_auditevent"
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="archive_aud_object__1ff417_idx")]

    def __str__(self) -> str:
        return (
            f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.object_label}"
        )


class Heartbeat(models.Model):
    """The last sign of life of one process of a role (a receiver, a spool worker, the sweep): what the
    status page and `/health` show, and how a receiver tells that the scheduler has gone quiet."""

    role = models.CharField(max_length=32)
    name = models.CharField(max_length=128, help_text="host:pid of the process")
    seen_at = models.DateTimeField(db_index=True)
    info = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("role", "name", name="heartbeat_one_row_per_process")]
        ordering = ["role", "-seen_at"]

    def __str__(self) -> str:
        return f"{self.role} {self.name}"


class ProjectRequest(models.Model):
    """A request for a new project by someone who may not create one (XNATLITE_PROJECT_CREATION=admins):
    a site admin approves it (the project is created, the requester its owner) or refuses it."""

    audit_type = "project_request"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a site administrator"
        APPROVED = "approved", "Approved"
        REFUSED = "refused", "Refused"

    requested_id = models.CharField(
        "project ID", max_length=layout.LABEL_MAX_LENGTH, validators=[layout.validate_label]
    )
    name = models.CharField("project title", max_length=255)
    description = models.TextField(blank=True)
    reason = models.TextField("what it is for", blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="project_requests", on_delete=models.CASCADE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField("the administrator's note", blank=True)
    project = models.ForeignKey(
        Project, null=True, blank=True, related_name="+", on_delete=models.SET_NULL, help_text="once approved"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.requested_id} (requested by {self.requested_by.get_username()})"
