"""Review and Archive: the four header fields the site script keeps, with a warning when one looks
like it identifies a person (archiving/identity.py); new labels; the archive service's validation
before anything is archived. Labels that look like a name or an MRN are archived only with the
confirm box ticked (the identity policy, validation code 30).
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from archive import queries as archive_queries
from archive.views import page, project_context
from archiving import APPEND, CONFLICT, DELETE, FAIL, NONE, ArchiveRequest, identity, refusals
from prearchive import handoff, queries
from prearchive.views.pages import _archive, _rows, _session
from xnatlite import layout, permissions
from xnatlite.errors import Forbidden, NotFound, XnatliteError

IDENTITY_CODE = 30  # archiving/validation.py: a label looks like a name or an MRN, not confirmed
KEPT_FIELD_TITLES = {
    "PatientName": "Patient Name (0010,0010)",
    "PatientID": "Patient ID (0010,0020)",
    "StudyDescription": "Study Description (0008,1030)",
    "AccessionNumber": "Accession Number (0008,0050)",
}
# --- Review and Archive -----------------------------------------------------------------------------
OVERWRITE_CHOICES = [
    (NONE, "Leave the existing session alone (archiving stops)"),
    (APPEND, "Append: add new scans and files to the existing session; collisions stop archiving"),
    (DELETE, "Replace: append, and replace what collides (a backup of replaced files is kept)"),
]


class ReviewForm(forms.Form):
    project = forms.ChoiceField(label="Project")
    subject = forms.CharField(
        label="Subject", max_length=layout.LABEL_MAX_LENGTH, validators=[layout.validate_label]
    )
    label = forms.CharField(
        label="Session", max_length=layout.LABEL_MAX_LENGTH, validators=[layout.validate_label]
    )
    overwrite = forms.ChoiceField(
        label="If the session exists", choices=OVERWRITE_CHOICES, initial=NONE, widget=forms.RadioSelect
    )
    confirm_identifiers = forms.BooleanField(
        label="These labels are meant to be archived as they are: I confirm", required=False
    )

    def __init__(self, data, projects: list[str], **kwargs):
        super().__init__(data, **kwargs)
        self.fields["project"].choices = [(p, p) for p in projects]


@page
def review(request: HttpRequest, project: str, timestamp: str, folder: str) -> HttpResponse:
    """Review and Archive: the kept fields with warnings, new labels, validation, the overwrite choice."""
    session = _session(request, project, timestamp, folder)
    projects = list(
        permissions.projects_for(request.user, "edit").order_by("id").values_list("pk", flat=True)
    )
    initial = {
        "project": session.project_id or "",
        "subject": session.subject_label,
        "label": session.label,
        "overwrite": NONE,
        "confirm_identifiers": False,
    }
    form = ReviewForm(request.POST or None, projects, initial=initial)
    chosen = form.cleaned_data if form.is_bound and form.is_valid() else (None if form.is_bound else initial)
    results, stopping = [], []
    if chosen is not None and session.project_id is not None:
        keys = ("project", "subject", "label", "overwrite", "confirm_identifiers")
        fields = {key: chosen.get(key, False) for key in keys}
        results = handoff.validate_archive(session, by=request.user, **fields)
        stopping = refusals(results, ArchiveRequest(overwrite=chosen["overwrite"]))
        unconfirmed = [r for r in stopping if r.code == IDENTITY_CODE]
        if request.method == "POST" and "archive" in request.POST:
            if unconfirmed:
                form.add_error("confirm_identifiers", "Change the labels, or tick this box to confirm them")
            elif not stopping:
                try:
                    return _archive(request, session, **fields)
                except (NotFound, Forbidden):
                    raise
                except XnatliteError as exc:
                    form.add_error(None, exc.message)
    values, error = queries.kept_fields(session)
    labels = chosen or initial
    target = labels["project"] if labels["project"] in projects else session.project_id
    context = {
        "session": _rows([session])[0],
        "form": form,
        "results": results,
        "stopping": stopping,
        "blocking": [r for r in stopping if r.code != IDENTITY_CODE],  # the confirm box lifts code 30
        "exists": any(r.code == 1 for r in results),
        "kept": [(KEPT_FIELD_TITLES[k], k, values.get(k, "")) for k in queries.KEPT_FIELDS],
        "kept_error": error,
        "warnings": identity.identity_warnings(values, subject=labels["subject"], session=labels["label"]),
        "subject_labels": archive_queries.subject_labels(target) if target else [],
        "scans": queries.scan_summary(session),
        "FAIL": FAIL,
        "CONFLICT": CONFLICT,
    }
    if session.project is not None:
        context.update(project_context(request, session.project, "prearchive"))
    return render(request, "prearchive/review.html", context)
