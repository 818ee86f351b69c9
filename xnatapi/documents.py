"""What the API says about archive objects: listing rows and single-object documents, all strings.

Column names, URIs and types follow xnat-rest-api.md §4-5. Each listing reads its rows in a fixed
number of queries (select_related / annotations), whatever the number of rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce

from archive.models import File, ImageSession, Resource, Scan, Subject
from xnatlite.models import Project

PROJECT_COLUMNS = ["ID", "secondary_ID", "name", "description", "pi_firstname", "pi_lastname", "URI"]
PROJECT_EXTRA = ["keywords", "accessibility", "xsiType", "insert_date"]
SUBJECT_COLUMNS = ["ID", "project", "label", "insert_date", "insert_user", "URI"]
SUBJECT_EXTRA = ["group", "src", "gender", "handedness", "yob", "xsiType", "note"]
EXPERIMENT_COLUMNS = ["ID", "project", "date", "xsiType", "label", "insert_date", "subject_label", "URI"]
EXPERIMENT_EXTRA = [
    "subject_ID",
    "time",
    "modality",
    "UID",
    "visit_id",
    "session_type",
    "note",
    "scanner",
    "operator",
    "subject_project",
]
SCAN_COLUMNS = [
    "xnat_imagescandata_id",
    "ID",
    "type",
    "quality",
    "xsiType",
    "note",
    "series_description",
    "URI",
]
SCAN_EXTRA = ["frames", "modality", "UID", "condition"]
RESOURCE_COLUMNS = [
    "xnat_abstractresource_id",
    "label",
    "element_name",
    "category",
    "cat_id",
    "cat_desc",
    "file_count",
    "file_size",
    "format",
    "content",
    "tags",
]
FILE_COLUMNS = [
    "Name",
    "Size",
    "URI",
    "collection",
    "file_tags",
    "file_format",
    "file_content",
    "cat_ID",
    "digest",
]
ALWAYS = ("ID", "URI")


def s(value: Any) -> str:
    """Every value a client sees is a string (xnatpy strips them); dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


# --- URIs -----------------------------------------------------------------------------------------
def project_uri(project_id: str) -> str:
    return f"/data/projects/{project_id}"


def subject_uri(subject: Subject) -> str:
    return f"/data/subjects/{subject.accession_id}"


def session_uri(session: ImageSession) -> str:
    return f"/data/experiments/{session.accession_id}"


def scan_uri(scan: Scan, session: ImageSession | None = None) -> str:
    return f"{session_uri(session or scan.session)}/scans/{scan.scan_id}"


def owner_uri(resource: Resource) -> str:
    if resource.scan_id:
        return scan_uri(resource.scan)
    if resource.session_id:
        return session_uri(resource.session)
    if resource.subject_id:
        return subject_uri(resource.subject)
    return project_uri(resource.project_id)


def resource_uri(resource: Resource) -> str:
    return f"{owner_uri(resource)}/resources/{resource.pk}"


def archive_uri(session: ImageSession) -> str:
    """The archived session as the import and archive services answer it (§8.1)."""
    return f"/data/archive/projects/{session.project_id}/subjects/{session.subject.label}/experiments/{session.label}"


# --- listing rows ---------------------------------------------------------------------------------
def project_rows(projects: QuerySet[Project]) -> Iterator[dict[str, str]]:
    for p in projects.order_by("id"):
        yield {
            "ID": p.id,
            "secondary_ID": p.secondary_id or p.id,
            "name": p.name,
            "description": p.description,
            "pi_firstname": "",
            "pi_lastname": p.pi,
            "keywords": p.keywords,
            "accessibility": p.accessibility,
            "xsiType": "xnat:projectData",
            "insert_date": s(p.created_at),
            "URI": project_uri(p.id),
        }


def subject_rows(subjects: QuerySet[Subject], creators: dict | None = None) -> Iterator[dict[str, str]]:
    for subject in subjects.order_by("project_id", "label"):
        yield {
            "ID": subject.accession_id,
            "project": subject.project_id,
            "label": subject.label,
            "insert_date": s(subject.created_at),
            "insert_user": "",
            "group": subject.group,
            "src": subject.src,
            "gender": subject.gender,
            "handedness": subject.handedness,
            "yob": s(subject.yob),
            "note": subject.note,
            "xsiType": "xnat:subjectData",
            "URI": subject_uri(subject),
        }


EXPERIMENT_VALUES = (
    "accession_id",
    "project_id",
    "date",
    "time",
    "xsi_type",
    "label",
    "created_at",
    "subject__label",
    "subject__accession_id",
    "subject__project_id",
    "modality",
    "study_instance_uid",
    "visit_id",
    "session_type",
    "note",
    "scanner",
    "operator",
)


def experiment_rows(sessions: QuerySet[ImageSession]) -> Iterator[dict[str, str]]:
    # Plain values, not model instances: a listing of 10,000 sessions spent most of its time building
    # ImageSession and Subject objects it only read a few fields of.
    qs = sessions.order_by("project_id", "label").values_list(*EXPERIMENT_VALUES)
    for (
        accession_id,
        project_id,
        date,
        time,
        xsi_type,
        label,
        created_at,
        subject_label,
        subject_id,
        subject_project,
        modality,
        uid,
        visit_id,
        session_type,
        note,
        scanner,
        operator,
    ) in qs.iterator(chunk_size=2000):
        yield {
            "ID": accession_id,
            "project": project_id,
            "date": s(date),
            "time": s(time),
            "xsiType": xsi_type,
            "label": label,
            "insert_date": s(created_at),
            "subject_label": subject_label,
            "subject_ID": subject_id,
            "subject_project": subject_project,
            "modality": modality,
            "UID": uid,
            "visit_id": visit_id,
            "session_type": session_type,
            "note": note,
            "scanner": scanner,
            "operator": operator,
            "URI": f"/data/experiments/{accession_id}",
        }


def scan_rows(scans: QuerySet[Scan] | list[Scan], session: ImageSession) -> Iterator[dict[str, str]]:
    for scan in scans:
        yield {
            "xnat_imagescandata_id": str(scan.pk),
            "ID": scan.scan_id,
            "type": scan.type,
            "quality": scan.quality,
            "xsiType": scan.xsi_type,
            "note": scan.note,
            "series_description": scan.series_description,
            "frames": str(scan.frames),
            "modality": scan.modality,
            "UID": scan.series_instance_uid,
            "condition": scan.condition,
            "URI": scan_uri(scan, session),
        }


def resources_with_counts(qs: QuerySet[Resource]) -> QuerySet[Resource]:
    return qs.annotate(n_files=Count("files"), n_bytes=Coalesce(Sum("files__size"), 0)).order_by("pk")


def resource_rows(resources: QuerySet[Resource]) -> Iterator[dict[str, str]]:
    for r in resources_with_counts(resources):
        yield {
            "xnat_abstractresource_id": str(r.pk),
            "label": r.label,
            "element_name": "xnat:resourceCatalog",
            "category": "scans" if r.scan_id else "resources",
            "cat_id": "",
            "cat_desc": r.description,
            "file_count": str(r.n_files),
            "file_size": str(r.n_bytes),
            "format": r.format,
            "content": r.content,
            "tags": r.tags,
        }


def file_rows(files: QuerySet[File]) -> Iterator[dict[str, str]]:
    qs = files.select_related(
        "resource__scan__session", "resource__session", "resource__subject", "resource__project"
    ).order_by("resource_id", "name")
    for f in qs.iterator(chunk_size=2000):
        yield {
            "Name": f.name,
            "Size": str(f.size),
            "URI": f"{resource_uri(f.resource)}/files/{f.name}",
            "collection": f.resource.label,
            "file_tags": f.tags,
            "file_format": f.format,
            "file_content": f.content,
            "cat_ID": str(f.resource_id),
            "digest": f.md5,
            "path": f.name,
        }


# --- single objects -------------------------------------------------------------------------------
def project_fields(p: Project) -> dict[str, str]:
    return {
        "ID": p.id,
        "secondary_ID": p.secondary_id or p.id,
        "name": p.name,
        "description": p.description,
        "keywords": p.keywords,
    }


def subject_fields(subject: Subject) -> dict[str, str]:
    return {
        "ID": subject.accession_id,
        "project": subject.project_id,
        "label": subject.label,
        "group": subject.group,
        "src": subject.src,
    }


def subject_children(subject: Subject) -> list[dict]:
    demographics = {
        "gender": subject.gender,
        "handedness": subject.handedness,
        "yob": s(subject.yob),
    }
    demographics = {k: v for k, v in demographics.items() if v}
    if not demographics:
        return []
    return [
        {
            "field": "demographics",
            "items": [
                {
                    "meta": {"xsi:type": "xnat:demographicData", "isHistory": False},
                    "data_fields": demographics,
                    "children": [],
                }
            ],
        }
    ]


def custom_children(variables: dict[str, str]) -> list[dict]:
    """Custom variables as XNAT's `fields/field` children (rows `name`/`field`)."""
    if not variables:
        return []
    items = [
        {
            "meta": {"xsi:type": "xnat:experimentData_field", "isHistory": False},
            "data_fields": {"name": name, "field": value},
            "children": [],
        }
        for name, value in sorted(variables.items())
    ]
    return [{"field": "fields/field", "items": items}]


def session_fields(session: ImageSession) -> dict[str, str]:
    return {
        "ID": session.accession_id,
        "project": session.project_id,
        "label": session.label,
        "subject_ID": session.subject.accession_id,
        "date": s(session.date),
        "time": s(session.time),
        "modality": session.modality,
        "UID": session.study_instance_uid,
        "scanner": session.scanner,
        "operator": session.operator,
        "visit_id": session.visit_id,
        "session_type": session.session_type,
        "note": session.note,
        "dcmAccessionNumber": session.dcm_accession_number,
        "dcmPatientId": session.dcm_patient_id,
        "dcmPatientName": session.dcm_patient_name,
        "acquisition_site": session.acquisition_site,
    }


def scan_fields(scan: Scan) -> dict[str, str]:
    return {
        "ID": scan.scan_id,
        "type": scan.type,
        "series_description": scan.series_description,
        "UID": scan.series_instance_uid,
        "quality": scan.quality,
        "condition": scan.condition,
        "note": scan.note,
        "frames": str(scan.frames),
        "modality": scan.modality,
        "image_session_ID": scan.session.accession_id,
        "xnat_imagescandata_id": str(scan.pk),
    }


def resource_fields(resource: Resource) -> dict[str, str]:
    counted = resources_with_counts(Resource.objects.filter(pk=resource.pk)).first()
    return {
        "xnat_abstractresource_id": str(resource.pk),
        "label": resource.label,
        "format": resource.format,
        "content": resource.content,
        "tags": resource.tags,
        "description": resource.description,
        "file_count": str(counted.n_files if counted else 0),
        "file_size": str(counted.n_bytes if counted else 0),
    }
