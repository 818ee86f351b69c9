"""The archive's data model, after XNAT's (xnat-spec.md §1): projects (xnatlite/models.py) hold
subjects, subjects hold image sessions, sessions hold scans; resources (folders of files) hang off
any of them.

Fields, constraints and small properties only; every write goes through
archive/services/.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from xnatlite import layout
from xnatlite.models import Project


class AccessionCounter(models.Model):
    """The last number handed out per accession prefix (`XNATLITE_S`); it only ever grows."""

    prefix = models.CharField(max_length=80, primary_key=True)
    last = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix}{self.last:05d}"


class Subject(models.Model):
    project = models.ForeignKey(Project, related_name="subjects", on_delete=models.CASCADE)
    label = models.CharField(max_length=layout.LABEL_MAX_LENGTH, validators=[layout.validate_label])
    accession_id = models.CharField("accession ID", max_length=80, unique=True, editable=False)
    group = models.CharField(max_length=255, blank=True)
    src = models.CharField("source", max_length=255, blank=True)
    gender = models.CharField(max_length=16, blank=True)
    yob = models.PositiveIntegerField("year of birth", null=True, blank=True)
    handedness = models.CharField(max_length=16, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "label"]
        constraints = [
            # XNAT finds subjects by label case-insensitively within a project (xnat-spec.md §1.3).
            models.UniqueConstraint(Lower("label"), "project", name="subject_label_unique_in_project"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.label}"

    @property
    def owning_project(self) -> Project:
        return self.project


class SessionType(models.TextChoices):
    """XNAT's image session types, chosen from the modalities in the study (xnat-spec.md §1.4)."""

    MR = "xnat:mrSessionData", "MR"
    CT = "xnat:ctSessionData", "CT"
    PET = "xnat:petSessionData", "PET"
    PETMR = "xnat:petmrSessionData", "PET/MR"
    CR = "xnat:crSessionData", "CR"
    DX = "xnat:dxSessionData", "DX"
    MG = "xnat:mgSessionData", "MG"
    US = "xnat:usSessionData", "US"
    NM = "xnat:nmSessionData", "NM"
    XA = "xnat:xaSessionData", "XA"
    RF = "xnat:rfSessionData", "RF"
    RT = "xnat:rtSessionData", "RT"
    SR = "xnat:srSessionData", "SR"
    ECG = "xnat:ecgSessionData", "ECG"
    OPT = "xnat:optSessionData", "OPT"
    SM = "xnat:smSessionData", "SM"
    OTHER = "xnat:otherDicomSessionData", "Other DICOM"


class ImageSession(models.Model):
    project = models.ForeignKey(Project, related_name="sessions", on_delete=models.CASCADE)
    subject = models.ForeignKey(Subject, related_name="sessions", on_delete=models.CASCADE)
    label = models.CharField(max_length=layout.LABEL_MAX_LENGTH, validators=[layout.validate_label])
    accession_id = models.CharField("accession ID", max_length=80, unique=True, editable=False)
    xsi_type = models.CharField(
        "XNAT type", max_length=64, choices=SessionType.choices, default=SessionType.OTHER
    )
    modality = models.CharField(max_length=16, blank=True)
    date = models.DateField(null=True, blank=True)
    time = models.TimeField(null=True, blank=True)
    study_instance_uid = models.CharField("StudyInstanceUID", max_length=64, blank=True, db_index=True)
    scanner = models.CharField(max_length=255, blank=True)
    scanner_manufacturer = models.CharField(max_length=255, blank=True)
    scanner_model = models.CharField(max_length=255, blank=True)
    operator = models.CharField(max_length=255, blank=True)
    acquisition_site = models.CharField(max_length=255, blank=True)
    dcm_accession_number = models.CharField(max_length=64, blank=True)
    dcm_patient_id = models.CharField(max_length=64, blank=True)
    dcm_patient_name = models.CharField(max_length=255, blank=True)
    visit_id = models.CharField(max_length=255, blank=True)
    session_type = models.CharField(max_length=255, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "label"]
        constraints = [
            models.UniqueConstraint(Lower("label"), "project", name="session_label_unique_in_project"),
        ]
        indexes = [models.Index(fields=["project", "-date"]), models.Index(fields=["project", "modality"])]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.label}"

    @property
    def owning_project(self) -> Project:
        return self.project

    @property
    def folder(self):
        return layout.archive_session_dir(self.project_id, self.label)


class ScanQuality(models.TextChoices):
    USABLE = "usable", "usable"
    QUESTIONABLE = "questionable", "questionable"
    UNUSABLE = "unusable", "unusable"


class Scan(models.Model):
    session = models.ForeignKey(ImageSession, related_name="scans", on_delete=models.CASCADE)
    scan_id = models.CharField(
        "scan ID", max_length=layout.LABEL_MAX_LENGTH, validators=[layout.validate_label]
    )
    xsi_type = models.CharField("XNAT type", max_length=64, default="xnat:otherDicomScanData")
    type = models.CharField(max_length=255, blank=True)
    series_description = models.CharField(max_length=255, blank=True)
    series_instance_uid = models.CharField("SeriesInstanceUID", max_length=64, blank=True, db_index=True)
    modality = models.CharField(max_length=16, blank=True)
    frames = models.PositiveIntegerField(default=0)
    quality = models.CharField(max_length=16, choices=ScanQuality.choices, default=ScanQuality.USABLE)
    condition = models.CharField(max_length=255, blank=True)
    note = models.TextField(blank=True)
    start_time = models.TimeField(null=True, blank=True)
    sort_key = models.IntegerField(
        default=layout.SCAN_WITHOUT_NUMBER, help_text="the number the scan ID starts with, for ordering"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session_id", "sort_key", "scan_id"]
        constraints = [models.UniqueConstraint("session", "scan_id", name="scan_id_unique_in_session")]

    def __str__(self) -> str:
        return f"{self.session}/{self.scan_id}"

    @property
    def owning_project(self) -> Project:
        return self.session.project


class Resource(models.Model):
    """A labelled folder of files (DICOM, SNAPSHOTS, NIFTI, ...) on a project, subject, session or scan."""

    label = models.CharField(max_length=layout.LABEL_MAX_LENGTH, validators=[layout.validate_label])
    format = models.CharField(max_length=64, blank=True)
    content = models.CharField(max_length=64, blank=True)
    tags = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    project = models.ForeignKey(
        Project, null=True, blank=True, related_name="resources", on_delete=models.CASCADE
    )
    subject = models.ForeignKey(
        Subject, null=True, blank=True, related_name="resources", on_delete=models.CASCADE
    )
    session = models.ForeignKey(
        ImageSession, null=True, blank=True, related_name="resources", on_delete=models.CASCADE
    )
    scan = models.ForeignKey(Scan, null=True, blank=True, related_name="resources", on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(project__isnull=False, subject__isnull=True, session__isnull=True, scan__isnull=True)
                    | Q(project__isnull=True, subject__isnull=False, session__isnull=True, scan__isnull=True)
                    | Q(project__isnull=True, subject__isnull=True, session__isnull=False, scan__isnull=True)
                    | Q(project__isnull=True, subject__isnull=True, session__isnull=True, scan__isnull=False)
                ),
                name="resource_has_exactly_one_owner",
            ),
            models.UniqueConstraint(
                "project", "label", condition=Q(project__isnull=False), name="resource_project_label"
            ),
            models.UniqueConstraint(
                "subject", "label", condition=Q(subject__isnull=False), name="resource_subject_label"
            ),
            models.UniqueConstraint(
                "session", "label", condition=Q(session__isnull=False), name="resource_session_label"
            ),
            models.UniqueConstraint(
                "scan", "label", condition=Q(scan__isnull=False), name="resource_scan_label"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner}/{self.label}"

    @property
    def owner(self) -> Project | Subject | ImageSession | Scan:
        return self.scan or self.session or self.subject or self.project  # type: ignore[return-value]

    @property
    def owning_project(self) -> Project:
        owner = self.owner
        return owner if isinstance(owner, Project) else owner.owning_project

    @staticmethod
    def owner_field(owner: Project | Subject | ImageSession | Scan) -> str:
        """The field naming a resource's owner of this kind: `scan`, `session`, `subject` or `project`."""
        for model, name in (
            (Scan, "scan"),
            (ImageSession, "session"),
            (Subject, "subject"),
            (Project, "project"),
        ):
            if isinstance(owner, model):
                return name
        raise TypeError(f"A resource cannot belong to {owner!r}")

    @property
    def folder(self):
        """The resource's folder in the archive layout."""
        if (scan := self.scan) is not None:
            return layout.scan_resource_dir(
                scan.session.project_id, scan.session.label, scan.scan_id, self.label
            )
        if (session := self.session) is not None:
            return layout.session_resource_dir(session.project_id, session.label, self.label)
        if (subject := self.subject) is not None:
            return layout.subject_resource_dir(subject.project_id, subject.label, self.label)
        assert self.project_id is not None  # the one owner left (resource_has_exactly_one_owner)
        return layout.project_resource_dir(self.project_id, self.label)


class File(models.Model):
    resource = models.ForeignKey(Resource, related_name="files", on_delete=models.CASCADE)
    name = models.CharField(
        max_length=layout.FILE_NAME_MAX_LENGTH, help_text="path inside the resource folder"
    )
    path = models.CharField(max_length=2048, help_text="path relative to the data root")
    size = models.BigIntegerField(default=0)
    md5 = models.CharField("MD5", max_length=32, blank=True)
    format = models.CharField(max_length=64, blank=True)
    content = models.CharField(max_length=64, blank=True)
    tags = models.CharField(max_length=255, blank=True)
    sop_class_uid = models.CharField("SOPClassUID", max_length=64, blank=True)
    sop_instance_uid = models.CharField("SOPInstanceUID", max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["resource_id", "name"]
        constraints = [models.UniqueConstraint("resource", "name", name="file_name_unique_in_resource")]

    def __str__(self) -> str:
        return self.path

    @property
    def owning_project(self) -> Project:
        return self.resource.owning_project

    @property
    def absolute_path(self):
        return layout.absolute_path(self.path)
