"""Subjects over REST: `/data/subjects[/{ID}]` and `/data/projects/{P}/subjects[/{S}]` (xnat-rest-api.md
§4.2, §6). PUT under a project creates a subject (201 and its accession ID, which xnatpy re-bases the
object on) or sets its fields, demographics and custom variables; a new `label` relabels it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from archive.models import Subject
from archive.services.subjects import create_subject, delete_subject, update_subject
from archiving.relabel import relabel_subject
from xnatapi import documents as docs
from xnatapi import fields, lookups, render
from xnatapi import services as api_services
from xnatapi.http import Endpoint, created, params, text
from xnatlite.errors import NotFound
from xnatlite.models import Project


class SubjectList(Endpoint):
    """A project's subjects, or every subject the user may read."""

    def get(self, request: HttpRequest, project: str | None = None) -> HttpResponse:
        rows = docs.subject_rows(lookups.subjects_of(request.user, project))
        return render.listing(
            request,
            rows,
            columns=docs.SUBJECT_COLUMNS,
            extra=docs.SUBJECT_EXTRA,
            title="subjects",
            always=docs.ALWAYS,
        )


class SubjectDetail(Endpoint):
    """One subject by label in its project, or by accession ID."""

    def get(self, request: HttpRequest, subject: str, project: str | None = None) -> HttpResponse:
        found = lookups.get_subject(request.user, subject, project)
        children = docs.subject_children(found) + docs.custom_children(api_services.custom_variables(found))
        return render.item_response(request, "xnat:subjectData", docs.subject_fields(found), children)

    def put(self, request: HttpRequest, subject: str, project: str | None = None) -> HttpResponse:
        values = params(request)
        try:
            found = lookups.get_subject(request.user, subject, project)
        except NotFound:  # missing, or hidden from this user: create it (the service decides who may)
            if project is None:
                raise
            return _create(request, lookups.get_project(request.user, project), subject, values)
        custom: dict[str, str] = {}
        changes, label = fields.field_values(values, fields.SUBJECT_FIELDS, custom)
        _change(request, found, changes, custom)
        if label and label != found.label:
            relabel_subject(found, label, by=request.user)
        return created(found.accession_id, False)

    post = put

    def delete(self, request: HttpRequest, subject: str, project: str | None = None) -> HttpResponse:
        delete_subject(lookups.get_subject(request.user, subject, project), by=request.user)
        return text("")


def _create(request: HttpRequest, project: Project, label: str, values: dict[str, str]) -> HttpResponse:
    custom: dict[str, str] = {}
    changes, new_label = fields.field_values(values, fields.SUBJECT_FIELDS, custom)
    subject = create_subject(project, new_label or label, by=request.user)
    _change(request, subject, changes, custom)
    return created(subject.accession_id, True)


def _change(request: HttpRequest, subject: Subject, changes: dict, custom: dict[str, str]) -> None:
    if changes:
        update_subject(subject, by=request.user, **changes)
    if custom:
        api_services.set_custom_variables(subject, custom, by=request.user)
