"""What archiving a prearchive session would do, checked before anything is written (xnat-spec.md §3.7-3.9).

Final labels are chosen as XNAT does (§3.7): the request's project, subject and session label, else
the prearchive row's. The checks carry XNAT's validator codes (§3.8) and a kind: a `fail` always
refuses the archive, a `conflict` refuses it unless the overwrite mode allows it, a `warning` never
refuses. Which mode overrides which conflict:

    code                                           append   delete (or overwrite_files for 15)
    1  the session already exists                  yes      yes
    5  its StudyInstanceUID differs                no       yes
    15 instances already archived (same SOP UID)   no       yes
    16 same scan ID, same series: files merge      yes      yes
    17 same scan ID, another series: renamed       yes      yes
    18 same series under another scan ID           no       yes

Code 30 (ours, not XNAT's) is the identity policy (identity.py): a final label that looks like a
person's name or a medical record number fails unless the request confirms it (`confirm_identifiers`),
and is a warning once confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from django.db.models import Q

from archive.models import File, ImageSession, Scan, SessionType, Subject
from archive.services.subjects import find_subject
from archiving import identity
from archiving.source import ArchiveSource
from xnatlite import layout
from xnatlite.errors import InvalidLabel, NotFound
from xnatlite.models import Project

NONE, APPEND, DELETE = "none", "append", "delete"
OVERWRITE_MODES = (NONE, APPEND, DELETE)
FAIL, CONFLICT, WARNING = "fail", "conflict", "warning"
UNASSIGNED_MESSAGE = "Cannot archive sessions from the Unassigned folder."

# Conflict code -> the overwrite modes that allow going on anyway (module docstring).
OVERRIDDEN_BY = {
    1: {APPEND, DELETE},
    5: {DELETE},
    15: {DELETE},
    16: {APPEND, DELETE},
    17: {APPEND, DELETE},
    18: {DELETE},
}

SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
SC_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
SCAN_TYPES = {
    "MR": "xnat:mrScanData",
    "CT": "xnat:ctScanData",
    "PT": "xnat:petScanData",
    "NM": "xnat:nmScanData",
    "US": "xnat:usScanData",
    "CR": "xnat:crScanData",
    "DX": "xnat:dxScanData",
    "MG": "xnat:mgScanData",
    "XA": "xnat:xaScanData",
    "RF": "xnat:rfScanData",
    "SR": "xnat:srScanData",
    "SC": "xnat:scScanData",
    "OT": "xnat:otherDicomScanData",
    "ECG": "xnat:ecgScanData",
    "SM": "xnat:smScanData",
    "OP": "xnat:opScanData",
    "OPT": "xnat:optScanData",
}
# The "lead" modality decides the session type (xnat-spec.md §1.4); the first one present wins.
SESSION_TYPE_ORDER = [
    ("MR", SessionType.MR),
    ("CT", SessionType.CT),
    ("NM", SessionType.NM),
    ("US", SessionType.US),
    ("XA", SessionType.XA),
    ("RF", SessionType.RF),
    ("MG", SessionType.MG),
    ("DX", SessionType.DX),
    ("CR", SessionType.CR),
    ("SM", SessionType.SM),
    ("OP", SessionType.OPT),
    ("OPT", SessionType.OPT),
    ("ECG", SessionType.ECG),
    ("RTIMAGE", SessionType.RT),
    ("RTDOSE", SessionType.RT),
    ("RTSTRUCT", SessionType.RT),
    ("RTPLAN", SessionType.RT),
    ("SR", SessionType.SR),
]


@dataclass(frozen=True)
class ArchiveRequest:
    """What the user asked for: new labels (empty: keep the prearchive row's), the overwrite mode, and
    whether the person archiving confirmed labels that look like a name or an MRN (identity.py)."""

    project: str = ""
    subject: str = ""
    label: str = ""
    overwrite: str = NONE
    overwrite_files: bool = False
    confirm_identifiers: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> ArchiveRequest:
        values = values or {}
        return cls(
            project=str(values.get("project") or ""),
            subject=str(values.get("subject") or ""),
            label=str(values.get("label") or ""),
            overwrite=str(values.get("overwrite") or NONE),
            overwrite_files=bool(values.get("overwrite_files")),
            confirm_identifiers=bool(values.get("confirm_identifiers")),
        )


@dataclass(frozen=True)
class ValidationResult:
    """One finding of the validation: XNAT's code, `fail` / `conflict` / `warning`, and what it means."""

    code: int
    kind: str
    message: str


@dataclass
class Target:
    """Where a prearchive session goes: the project, the final labels and what already exists there."""

    project: Project
    subject_label: str
    label: str
    subject: Subject | None = None
    session: ImageSession | None = None  # the archived session it merges into, if any
    scan_ids: dict[str, str] = field(default_factory=dict)  # prearchive scan ID -> archived scan ID

    @property
    def folder(self):
        return layout.archive_session_dir(self.project.id, self.session.label if self.session else self.label)


def scan_type(modality: str, sop_class_uid: str = "") -> str:
    """The XNAT scan type of a series (secondary captures and SR by SOP class, the rest by modality)."""
    if sop_class_uid.startswith(SR_CLASS_PREFIX):
        return SCAN_TYPES["SR"]
    if sop_class_uid.startswith(SC_CLASS_PREFIX):
        return SCAN_TYPES["SC"]
    return SCAN_TYPES.get((modality or "").upper(), "xnat:otherDicomScanData")


def session_type(modalities: Iterable[str]) -> str:
    """The XNAT session type for the modalities of a study: PET and MR together make a PET/MR session."""
    present = {(m or "").upper() for m in modalities}
    if {"PT", "MR"} <= present:
        return SessionType.PETMR
    if "PT" in present:
        return SessionType.PET
    for modality, kind in SESSION_TYPE_ORDER:
        if modality in present:
            return kind
    return SessionType.OTHER


def find_project(project_id: str) -> Project:
    """A project by ID or alias (no permission check: callers check the user's rights)."""
    project = Project.objects.filter(Q(pk=project_id) | Q(aliases__alias=project_id)).distinct().first()
    if project is None:
        raise NotFound(f"Project '{project_id}' not found")
    return project


def final_labels(session: ArchiveSource, request: ArchiveRequest) -> tuple[str, str]:
    """(subject label, session label) the session is archived under, unchecked (§3.7)."""
    return request.subject or session.subject_label, request.label or session.label or session.folder_name


def require_confirmed_labels(session: ArchiveSource, request: ArchiveRequest) -> list[str]:
    """The identity policy (identity.py) on the labels this request archives under."""
    subject, label = final_labels(session, request)
    return identity.require_confirmed(subject=subject, session=label, confirmed=request.confirm_identifiers)


def resolve_target(session: ArchiveSource, request: ArchiveRequest) -> Target:
    """The destination with its final labels (§3.7); InvalidLabel or NotFound when they cannot be used."""
    if request.project:
        project = find_project(request.project)
    elif session.project is not None:
        project = session.project
    else:
        raise InvalidLabel(UNASSIGNED_MESSAGE)
    subject_label, label = final_labels(session, request)
    label = layout.check_label(label, "Session label")
    subject_label = layout.check_label(subject_label, "Subject label")
    subject = find_subject(project, subject_label)
    existing = (
        ImageSession.objects.filter(project=project, label__iexact=label).select_related("subject").first()
    )
    target = Target(project, subject.label if subject else subject_label, label, subject, existing)
    target.scan_ids = plan_scan_ids(session, existing)
    return target


def plan_scan_ids(session: ArchiveSource, existing: ImageSession | None) -> dict[str, str]:
    """Archived scan IDs: the prearchive ones, except that a scan whose ID is taken by another series in
    the session merged into gets the next free `{id}-{k}`, and a series archived under another ID keeps it."""
    scans = session.scans()
    plan = {scan_id: scan_id for scan_id, _ in scans}
    if existing is None:
        return plan
    archived = {scan.scan_id: scan.series_instance_uid for scan in Scan.objects.filter(session=existing)}
    by_uid = {uid: scan_id for scan_id, uid in archived.items() if uid}
    taken = set(archived) | set(plan)
    for scan_id, uid in scans:
        if uid and uid in by_uid:
            plan[scan_id] = by_uid[uid]
        elif scan_id in archived:
            k = 1
            while f"{scan_id}-{k}"[: layout.LABEL_MAX_LENGTH] in taken:
                k += 1
            plan[scan_id] = f"{scan_id}-{k}"[: layout.LABEL_MAX_LENGTH]
            taken.add(plan[scan_id])
    return plan


def _input_failure(session: ArchiveSource, request: ArchiveRequest, exc: Exception) -> ValidationResult:
    message = str(exc)
    if "Session label" in message and not (request.label or session.label):
        return ValidationResult(8, FAIL, "The session has no label")
    if "Subject label" in message and not (request.subject or session.subject_label):
        return ValidationResult(11, FAIL, "The session has no subject; give it one")
    return ValidationResult(7, FAIL, message)


def validate(
    session: ArchiveSource, request: ArchiveRequest, *, unreadable: int = 0
) -> tuple[list[ValidationResult], Target | None]:
    """Every finding for archiving `session` as `request` asks, and the target when it can be named."""
    if session.project is None:  # even to a named project: move it there first (§2.4)
        return [ValidationResult(6, FAIL, UNASSIGNED_MESSAGE)], None
    if request.overwrite not in OVERWRITE_MODES:
        message = f"overwrite must be one of {', '.join(OVERWRITE_MODES)}, not '{request.overwrite}'"
        return [ValidationResult(7, FAIL, message)], None
    try:
        target = resolve_target(session, request)
    except (InvalidLabel, NotFound) as exc:
        return [_input_failure(session, request, exc)], None
    results: list[ValidationResult] = []
    project, label = target.project, target.label
    findings = identity.label_findings(subject=target.subject_label, session=label)
    if findings:
        kind, what = (
            (WARNING, "confirmed") if request.confirm_identifiers else (FAIL, "confirm them to archive")
        )
        message = "; ".join(findings)
        results.append(ValidationResult(30, kind, f"{message[0].upper()}{message[1:]} ({what})"))
    if target.subject is None:
        results.append(
            ValidationResult(12, WARNING, f"Subject '{target.subject_label}' will be created in {project.id}")
        )
    if unreadable:
        results.append(
            ValidationResult(20, WARNING, f"{unreadable} file(s) in the session folder are not DICOM")
        )
    existing = target.session
    if existing is None:
        if layout.archive_session_dir(project.id, label).exists():
            results.append(
                ValidationResult(
                    14,
                    FAIL,
                    f"A folder for session {label} exists in the archive of {project.id} without a "
                    "session in the database; an administrator must look at it first",
                )
            )
        return results, target
    results.append(
        ValidationResult(
            1,
            CONFLICT,
            f"Session {existing.label} already exists in project {project.id}; "
            "archive it again choosing Append to add to it",
        )
    )
    if target.subject is None or existing.subject_id != target.subject.pk:
        results.append(
            ValidationResult(
                4,
                FAIL,
                f"Session {existing.label} belongs to subject {existing.subject.label}, "
                f"not {target.subject_label}",
            )
        )
    if (
        existing.study_instance_uid
        and session.study_instance_uid
        and existing.study_instance_uid != session.study_instance_uid
    ):
        results.append(
            ValidationResult(
                5,
                CONFLICT,
                f"Session {existing.label} holds another study (a different StudyInstanceUID)",
            )
        )
    new_type = session_type(session.modalities())
    if new_type != existing.xsi_type:
        results.append(
            ValidationResult(
                19,
                FAIL,
                f"Session {existing.label} is a {existing.get_xsi_type_display()} session; "
                f"this data would make a {SessionType(new_type).label} session",
            )
        )
    results.extend(_scan_findings(session, target))
    duplicates = (
        File.objects.filter(resource__scan__session=existing, resource__label="DICOM")
        .filter(sop_instance_uid__in=session.sop_instance_uids())
        .count()
    )
    if duplicates:
        results.append(
            ValidationResult(
                15,
                CONFLICT,
                f"Duplicate DICOM file uploaded: {duplicates} instance(s) are already archived in "
                f"session {existing.label}; archive it again choosing Replace to replace them",
            )
        )
    return results, target


def _scan_findings(session: ArchiveSource, target: Target) -> list[ValidationResult]:
    archived = {s.scan_id: s.series_instance_uid for s in Scan.objects.filter(session=target.session)}
    by_uid = {uid: scan_id for scan_id, uid in archived.items() if uid}
    results = []
    for scan_id, uid in session.scans():
        if scan_id in archived and archived[scan_id] == uid:
            results.append(
                ValidationResult(
                    16, CONFLICT, f"Scan {scan_id} is already archived; its files will be merged"
                )
            )
        elif uid in by_uid and by_uid[uid] != scan_id:
            results.append(
                ValidationResult(
                    18, CONFLICT, f"Series of scan {scan_id} is already archived as scan {by_uid[uid]}"
                )
            )
        elif scan_id in archived:
            results.append(
                ValidationResult(
                    17,
                    CONFLICT,
                    f"Scan {scan_id} exists with another series; the new one will be scan "
                    f"{target.scan_ids[scan_id]}",
                )
            )
    return results


def refusals(results: Iterable[ValidationResult], request: ArchiveRequest) -> list[ValidationResult]:
    """The findings that stop this request: every fail, and the conflicts its mode does not override."""
    stopping = []
    for result in results:
        if result.kind == FAIL:
            stopping.append(result)
        elif result.kind == CONFLICT:
            if request.overwrite in OVERRIDDEN_BY.get(result.code, set()):
                continue
            if result.code == 15 and request.overwrite_files:
                continue
            stopping.append(result)
    return stopping
