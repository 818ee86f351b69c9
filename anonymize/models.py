"""Stored anonymization scripts: one site-wide script, one per project, and every saved version; and the
secret date shift of each subject of a project.

No row means the shipped default (anonymize/scripts/), enabled: a fresh site de-identifies by default.
"""

from django.conf import settings
from django.db import models

from xnatlite.models import Project


class ScriptFields(models.Model):
    text = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    deidentifying = models.BooleanField(
        default=True,
        help_text="The script removes identifying information: files it ran on are marked "
        "Patient Identity Removed (0012,0062) = YES.",
    )
    lookup_table = models.TextField(
        blank=True,
        help_text="What DicomEdit's lookup[category, key] answers: one `category/key = value` per line.",
    )
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        abstract = True


class SiteScript(ScriptFields):
    """The site-wide script, run on every instance as it arrives (xnat-spec.md §6.1). One row, pk 1."""

    class Meta:
        verbose_name = "site anonymization script"

    def __str__(self) -> str:
        return f"site script v{self.version}{'' if self.enabled else ' (disabled)'}"


class ProjectScript(ScriptFields):
    """A project's script, run on the way into the archive with the final labels."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="anon_script")

    class Meta:
        verbose_name = "project anonymization script"

    def __str__(self) -> str:
        return f"{self.project_id} script v{self.version}{'' if self.enabled else ' (disabled)'}"


class ScriptVersion(models.Model):
    """Every saved text of a script, so an owner can see and restore what ran before."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    enabled = models.BooleanField()
    deidentifying = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["project_id", "-version"]
        constraints = [
            models.UniqueConstraint("project", "version", name="script_version_unique"),
            models.UniqueConstraint(
                "version", condition=models.Q(project__isnull=True), name="site_script_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id or 'site'} script v{self.version}"


class SubjectDateShift(models.Model):
    """The secret number of days a project's scripts move a subject's dates by (``subjectDateShift[]``,
    ``shiftSubjectDates[...]``): drawn at random the first time a script asks, then the same for every
    session of the subject, so intervals survive (PS3.15 E.3.6, Modified Dates). Shown on no page and in
    no API answer; owners can only infer it from their dry run."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=64)  # the subject label the project script runs with
    days = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint("project", "subject", name="subject_date_shift_unique")]

    def __str__(self) -> str:
        return f"date shift of {self.project_id}/{self.subject}"
