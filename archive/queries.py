"""Reads shared by the pages and the API; each returns what its callers show in a fixed number of queries."""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass
from typing import Any

import pydicom
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import (
    BigIntegerField,
    Count,
    F,
    IntegerField,
    Max,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from archive.events import EVENT_KINDS
from archive.models import File, ImageSession, Resource, Scan, Subject
from xnatlite import permissions
from xnatlite.errors import NotFound
from xnatlite.models import AuditEvent, Project, Role

SNAPSHOTS = "SNAPSHOTS"  # the scan resource holding preview images (xnat-spec.md §1.6)
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


def _count(model: type[Model], **outer: Any) -> Coalesce:
    """A correlated COUNT subquery: cheaper than joining two big tables and counting distinct rows."""
    rows = (
        model._default_manager.filter(**outer).order_by().values(*outer).annotate(n=Count("pk")).values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def project_listing(user: permissions.User | None, *, search: str = "") -> QuerySet[Project]:
    """Projects the user may see, with subject and session counts and the last archiving time;
    `search` matches the ID, the titles or an alias (what anyone who sees a project sees)."""
    last = ImageSession.objects.filter(project=OuterRef("pk")).order_by().values("project")
    qs = permissions.projects_for(user, "see")
    if search:
        qs = qs.filter(
            pk__in=Project.objects.filter(
                Q(id__icontains=search)
                | Q(name__icontains=search)
                | Q(secondary_id__icontains=search)
                | Q(aliases__alias__icontains=search)
            ).values("pk")
        )
    return qs.annotate(
        subject_count=_count(Subject, project=OuterRef("pk")),
        session_count=_count(ImageSession, project=OuterRef("pk")),
        last_activity=Subquery(last.annotate(m=Max("created_at")).values("m")),
    ).order_by("id")


SEARCH_LIMIT = 20


@dataclass
class SearchResults:
    projects: list[Project]
    subjects: list[Subject]
    sessions: list[ImageSession]


def search(user: permissions.User | None, text: str, *, limit: int = SEARCH_LIMIT) -> SearchResults:
    """The header's search: projects the user may see (by ID, title, alias), subjects and sessions of
    projects they may read (by label or accession ID), at most `limit` of each."""
    text = text.strip()
    if not text:
        return SearchResults([], [], [])
    readable = permissions.projects_for(user, "read").values("pk")
    by_name = Q(label__icontains=text) | Q(accession_id__icontains=text)
    return SearchResults(
        projects=list(project_listing(user, search=text)[:limit]),
        subjects=list(
            Subject.objects.filter(by_name, project__in=readable)
            .select_related("project")
            .order_by("project_id", "label")[:limit]
        ),
        sessions=list(
            ImageSession.objects.filter(by_name, project__in=readable)
            .select_related("project", "subject")
            .order_by("project_id", "label")[:limit]
        ),
    )


def project_users(project: Project) -> list[tuple[User, Role]]:
    """(user, role) for everyone with a role in the project, owners first."""
    order = {Role.OWNER: 0, Role.MEMBER: 1, Role.COLLABORATOR: 2}
    names = {permissions.role_group_name(project.id, role): Role(role) for role in Role.values}
    users = (
        get_user_model()
        .objects.filter(groups__name__in=names)
        .annotate(group_name=Max("groups__name"))
        .order_by("username")
    )
    # A user is in one role group per project (services keep it so), so the annotated name is theirs.
    rows = [(user, names[user.group_name]) for user in users]
    return sorted(rows, key=lambda row: (order[row[1]], row[0].get_username()))


# --- project page, subject and session pages (the browser UI) --------------------------------------
SESSION_SORTS = {
    "label": "label",
    "subject": "subject__label",
    "date": "date",
    "modality": "modality",
    "type": "xsi_type",
    "accession": "accession_id",
    "scans": "scan_count",
    "created": "created_at",
}
SUBJECT_SORTS = {
    "label": "label",
    "accession": "accession_id",
    "group": "group",
    "sessions": "session_count",
    "last": "last_session_date",
    "created": "created_at",
}


def _ordered(qs: QuerySet, sorts: dict[str, str], sort: str) -> QuerySet:
    """Order by a whitelisted column (`date`, `-date`), empty values last, ties broken by label and pk."""
    key = sort.lstrip("-")
    field = sorts.get(key, "label")
    expr = F(field).desc(nulls_last=True) if sort.startswith("-") else F(field).asc(nulls_last=True)
    return qs.order_by(expr, "label", "pk")


def session_listing(
    project: Project,
    *,
    search: str = "",
    modality: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    subject: Subject | None = None,
    sort: str = "-date",
) -> QuerySet[ImageSession]:
    """A project's sessions with subject and scan count, filtered and sorted; slice it to paginate."""
    qs = (
        ImageSession.objects.filter(project=project)
        .select_related("subject")
        .annotate(scan_count=_count(Scan, session=OuterRef("pk")))
    )
    if subject is not None:
        qs = qs.filter(subject=subject)
    if search:
        qs = qs.filter(
            Q(label__icontains=search)
            | Q(accession_id__icontains=search)
            | Q(subject__label__icontains=search)
        )
    if modality:
        qs = qs.filter(modality__iexact=modality)
    if date_from:
        qs = qs.filter(date__gte=date_from)
    if date_to:
        qs = qs.filter(date__lte=date_to)
    return _ordered(qs, SESSION_SORTS, sort)


def project_modalities(project: Project) -> list[str]:
    """The modalities of a project's sessions, for the filter menu."""
    rows = ImageSession.objects.filter(project=project).exclude(modality="").order_by("modality")
    return list(rows.values_list("modality", flat=True).distinct())


def subject_listing(project: Project, *, search: str = "", sort: str = "label") -> QuerySet[Subject]:
    """A project's subjects with their session count and latest session date."""
    last = ImageSession.objects.filter(subject=OuterRef("pk")).order_by().values("subject")
    qs = Subject.objects.filter(project=project).annotate(
        session_count=_count(ImageSession, subject=OuterRef("pk")),
        last_session_date=Subquery(last.annotate(m=Max("date")).values("m")),
    )
    if search:
        qs = qs.filter(Q(label__icontains=search) | Q(accession_id__icontains=search))
    return _ordered(qs, SUBJECT_SORTS, sort)


def get_session(project: Project, label_or_id: str) -> ImageSession:
    """A project's session by label (case-insensitive) or accession ID, or NotFound."""
    session = (
        ImageSession.objects.filter(project=project)
        .filter(Q(label__iexact=label_or_id) | Q(accession_id=label_or_id))
        .select_related("subject")
        .first()
    )
    if session is None:
        raise NotFound(f"No session '{label_or_id}' in project {project.id}")
    session.project = project  # already loaded and permission-checked by the caller
    session.subject.project = project
    return session


def _with_file_totals(qs: QuerySet[Resource]) -> QuerySet[Resource]:
    files = File.objects.filter(resource=OuterRef("pk")).order_by().values("resource")
    return qs.annotate(
        file_count=_count(File, resource=OuterRef("pk")),
        total_size=Coalesce(
            Subquery(files.annotate(s=Sum("size")).values("s"), output_field=BigIntegerField()), 0
        ),
    )


def session_scans(session: ImageSession) -> QuerySet[Scan]:
    """A session's scans in scan order, each with `.resources` (file count and size) and `.snapshots`."""
    snapshots = Resource.objects.filter(label=SNAPSHOTS).prefetch_related("files")
    return (
        Scan.objects.filter(session=session)
        .order_by("sort_key", "scan_id")
        .prefetch_related(
            Prefetch("resources", queryset=_with_file_totals(Resource.objects.order_by("label"))),
            Prefetch("resources", queryset=snapshots, to_attr="snapshot_resources"),
        )
    )


def resources_of(owner: Project | Subject | ImageSession | Scan) -> QuerySet[Resource]:
    """The resources of a subject, session or scan itself (not of what it holds), with file count and size."""
    return _with_file_totals(
        Resource.objects.filter(**{Resource.owner_field(owner): owner}).order_by("label")
    )


def resource_files_of(owner: Project | Subject | ImageSession | Scan) -> QuerySet[File]:
    """Every file of the owner's own resources, resource by resource."""
    return (
        File.objects.filter(**{f"resource__{Resource.owner_field(owner)}": owner})
        .select_related("resource")
        .order_by("resource__label", "name")
    )


# XNAT's default file name `{StudyUID}-{SeriesNumber}-{InstanceNumber}-{hash}.dcm` (prearchive/instances.py).
_XNAT_DICOM_NAME = re.compile(r"[0-9.]+-[^-/]*-(-?[0-9]+)-[^-/]+\.dcm")


def instance_number(file: File) -> int | None:
    """The InstanceNumber a DICOM file's name carries (every instance xnatlite received is named so);
    None for other files (snapshots, notes) and names without one."""
    match = _XNAT_DICOM_NAME.fullmatch(file.name.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def scan_files(scan: Scan) -> list[File]:
    """A scan's files, resource by resource, DICOM instances in InstanceNumber order (then by name),
    each with `.instance_number`. Sorted here, since the number is in the name: a scan's thousands of
    rows are cheap to sort, and its files are shown 100 a page."""
    files = list(resource_files_of(scan))
    for file in files:
        file.instance_number = instance_number(file)  # type: ignore[attr-defined]
    files.sort(
        key=lambda f: (f.resource.label, f.instance_number is None, f.instance_number or 0, f.name)  # type: ignore[attr-defined]
    )
    return files


def session_history(session: ImageSession, limit: int = 100) -> QuerySet[AuditEvent]:
    """Audit events on the session, its scans and their resources (files stored, deleted), newest first."""
    scan_ids = [str(pk) for pk in Scan.objects.filter(session=session).values_list("pk", flat=True)]
    resources = Resource.objects.filter(Q(session=session) | Q(scan__session=session))
    resource_ids = [str(pk) for pk in resources.values_list("pk", flat=True)]
    return AuditEvent.objects.filter(
        Q(object_type="imagesession", object_id=session.accession_id)
        | Q(object_type="scan", object_id__in=scan_ids, project_id=session.project_id)
        | Q(object_type="resource", object_id__in=resource_ids, project_id=session.project_id)
    )[:limit]


def history_labels(owner: Subject | ImageSession) -> dict[tuple[str, str], str]:
    """(object type, object id) -> today's label, for the objects whose events a subject's or session's
    history shows: readers below owner see these instead of the labels recorded at the time."""
    labels = {(type(owner).__name__.lower(), owner.accession_id): str(owner)}  # as xnatlite/audit.py names it
    if isinstance(owner, ImageSession):
        scans = Scan.objects.filter(session=owner).select_related("session")
        labels.update({("scan", str(scan.pk)): str(scan) for scan in scans})
        resources = Resource.objects.filter(Q(session=owner) | Q(scan__session=owner)).select_related(
            "session", "scan__session"
        )
        labels.update({("resource", str(r.pk)): str(r) for r in resources})
    return labels


def subject_history(subject: Subject, limit: int = 100) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type="subject", object_id=subject.accession_id)[:limit]


def project_history(project: Project, *, kind: str = "", actor: str = "") -> QuerySet[AuditEvent]:
    """Every audit event of a project, newest first, optionally of one kind (archive/events.py) or by
    one account (its name, kept when the account is gone); slice it to paginate."""
    events = AuditEvent.objects.filter(project_id=project.id)
    if kind in EVENT_KINDS:
        prefixes = Q()
        for prefix in EVENT_KINDS[kind][1]:
            prefixes |= Q(action__startswith=prefix)
        events = events.filter(prefixes)
    if actor:
        events = events.filter(actor_name=actor)
    return events


def history_actors(project: Project) -> list[str]:
    """Who appears in a project's history, for its filter."""
    return sorted(
        AuditEvent.objects.filter(project_id=project.id)
        .order_by()
        .values_list("actor_name", flat=True)
        .distinct()
    )


def dicom_header(path: str | os.PathLike[str]) -> list[HeaderRow]:
    """The header of a DICOM file as rows (meta group first, sequences indented); pixel data is not read."""
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    rows: list[HeaderRow] = []
    if getattr(ds, "file_meta", None) is not None:
        _header_rows(ds.file_meta, 0, rows)
    _header_rows(ds, 0, rows)
    return rows


@dataclass(frozen=True)
class HeaderRow:
    depth: int  # 0 for the top level, +1 inside each sequence item
    tag: str  # "(0010,0010)"
    keyword: str  # "PatientName", or the name of a private/unknown element
    vr: str
    value: str  # shortened for display; binary values give their length


HEADER_VALUE_MAX = 200


def _header_value(elem: DataElement) -> str:
    if elem.VR in BINARY_VRS:
        length = len(elem.value) if isinstance(elem.value, bytes | bytearray) else 0
        return f"<{length} bytes>"
    if elem.VM > 1:  # shown as DICOM writes it: values separated by backslashes
        text = "\\".join(str(v) for v in elem.value)
    else:
        text = "" if elem.value is None else str(elem.value)
    return text if len(text) <= HEADER_VALUE_MAX else text[: HEADER_VALUE_MAX - 1] + "…"


def _header_rows(ds: Dataset, depth: int, rows: list[HeaderRow]) -> None:
    for elem in ds:
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        name = elem.keyword or elem.name
        if elem.VR == "SQ":
            rows.append(HeaderRow(depth, tag, name, "SQ", f"{len(elem.value)} item(s)"))
            for number, item in enumerate(elem.value, start=1):
                rows.append(HeaderRow(depth + 1, "", f"Item {number}", "", ""))
                _header_rows(item, depth + 2, rows)
        else:
            rows.append(HeaderRow(depth, tag, name, str(elem.VR), _header_value(elem)))


SUBJECT_SUGGESTIONS = 2000  # a <datalist> longer than this helps nobody


def subject_labels(project_id: str) -> list[str]:
    """Labels of a project's subjects, for suggesting existing subjects when relabelling."""
    rows = Subject.objects.filter(project_id=project_id).order_by("label")
    return list(rows.values_list("label", flat=True)[:SUBJECT_SUGGESTIONS])


# --- what an object holds, resource files (the browser UI's delete and resource pages) -------------
@dataclass(frozen=True)
class Contents:
    sessions: int
    scans: int
    resources: int
    files: int
    size: int  # bytes


def contents_of(obj: Subject | ImageSession | Scan | Resource) -> Contents:
    """What a subject, session, scan or resource holds, so what deleting it removes (a query per count)."""
    none_sessions, none_scans = ImageSession.objects.none(), Scan.objects.none()
    if isinstance(obj, Subject):
        sessions, scans = ImageSession.objects.filter(subject=obj), Scan.objects.filter(session__subject=obj)
        owners = Q(subject=obj) | Q(session__subject=obj) | Q(scan__session__subject=obj)
    elif isinstance(obj, ImageSession):
        sessions, scans = none_sessions, Scan.objects.filter(session=obj)
        owners = Q(session=obj) | Q(scan__session=obj)
    elif isinstance(obj, Scan):
        sessions, scans, owners = none_sessions, none_scans, Q(scan=obj)
    elif isinstance(obj, Resource):
        sessions, scans, owners = none_sessions, none_scans, Q(pk=obj.pk)
    else:
        raise TypeError(f"No contents for {obj!r}")
    resources = Resource.objects.filter(owners)
    totals = File.objects.filter(resource__in=resources.values("pk")).aggregate(
        files=Count("pk"), size=Coalesce(Sum("size"), 0)
    )
    return Contents(sessions.count(), scans.count(), resources.count(), totals["files"], totals["size"])
