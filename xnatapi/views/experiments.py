"""Experiments (image sessions) over REST: `/data/experiments[/{ID}]`, `/data/projects/{P}/experiments`,
`.../subjects/{S}/experiments[/{E}]` (xnat-rest-api.md §4.3, §6). PUT under a subject creates a
session (201 and its accession ID) or sets its fields and custom variables; a new `label` relabels it
(its folder moves)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from archive.models import ImageSession, Subject
from archive.services.sessions import create_session, delete_session, update_session
from archiving.relabel import relabel_session
from xnatapi import documents as docs
from xnatapi import fields, lookups, render
from xnatapi import services as api_services
from xnatapi.http import Endpoint, created, params, text
from xnatlite.errors import InvalidInput, NotFound


class ExperimentList(Endpoint):
    """A subject's or a project's experiments, or every one the user may read."""

    def get(
        self, request: HttpRequest, project: str | None = None, subject: str | None = None
    ) -> HttpResponse:
        rows = docs.experiment_rows(lookups.sessions_of(request.user, project, subject))
        return render.listing(
            request,
            rows,
            columns=docs.EXPERIMENT_COLUMNS,
            extra=docs.EXPERIMENT_EXTRA,
            title="experiments",
            always=docs.ALWAYS,
        )


class ExperimentDetail(Endpoint):
    """One experiment by label under its subject or project, or by accession ID."""

    def get(self, request: HttpRequest, experiment: str, **parents: str) -> HttpResponse:
        found = lookups.get_session(request.user, experiment, **parents)
        children = docs.custom_children(api_services.custom_variables(found))
        return render.item_response(request, found.xsi_type, docs.session_fields(found), children)

    def put(self, request: HttpRequest, experiment: str, **parents: str) -> HttpResponse:
        values = params(request)
        try:
            found = lookups.get_session(request.user, experiment, **parents)
        except NotFound:  # missing, or hidden from this user: create it (the service decides who may)
            if "subject" in parents:
                subject = lookups.get_subject(request.user, parents["subject"], parents.get("project"))
                return _create(request, subject, experiment, values)
            if "project" not in parents:
                raise
            lookups.get_project(request.user, parents["project"])
            raise InvalidInput(
                "Create an experiment under its subject: .../subjects/{subject}/experiments/{label}"
            ) from None
        custom: dict[str, str] = {}
        changes, label = fields.field_values(values, fields.SESSION_FIELDS, custom)
        _change(request, found, changes, custom)
        if label and label != found.label:
            relabel_session(found, label, by=request.user)
        return created(found.accession_id, False)

    post = put

    def delete(self, request: HttpRequest, experiment: str, **parents: str) -> HttpResponse:
        delete_session(lookups.get_session(request.user, experiment, **parents), by=request.user)
        return text("")


def _create(request: HttpRequest, subject: Subject, label: str, values: dict[str, str]) -> HttpResponse:
    custom: dict[str, str] = {}
    changes, new_label = fields.field_values(values, fields.SESSION_FIELDS, custom)
    xsi_type = fields.xsi_type(values, "xnat:mrSessionData")
    session = create_session(subject, new_label or label, by=request.user, xsi_type=xsi_type)
    _change(request, session, changes, custom)
    return created(session.accession_id, True)


def _change(request: HttpRequest, session: ImageSession, changes: dict, custom: dict[str, str]) -> None:
    if changes:
        update_session(session, by=request.user, **changes)
    if custom:
        api_services.set_custom_variables(session, custom, by=request.user)
