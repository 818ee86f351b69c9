"""Review and Archive: the four header fields the site script keeps, with a warning when one looks
like it identifies a person; new labels; the archive service's validation before anything is archived.
"""

from __future__ import annotations

import re
from pathlib import Path

import pydicom
from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from archive import queries as archive_queries
from archive.views import page, project_context
from archiving import APPEND, CONFLICT, DELETE, FAIL, NONE, ArchiveRequest, refusals
from prearchive import operations, queries
from prearchive.models import PrearchiveSession
from prearchive.views.pages import _archive, _rows, _scan_order, _session
from xnatlite import layout, permissions
from xnatlite.errors import Forbidden, NotFound, XnatliteError

# --- Review and Archive: the four kept fields and what they look like ---------------------------------
# The default site script keeps these so a person can review the session (DESIGN.md "Anonymization").
KEPT_FIELDS = ("PatientName", "PatientID", "StudyDescription", "AccessionNumber")
KEPT_FIELD_TITLES = {
    "PatientName": "Patient Name (0010,0010)",
    "PatientID": "Patient ID (0010,0020)",
    "StudyDescription": "Study Description (0008,1030)",
    "AccessionNumber": "Accession Number (0008,0050)",
}
# Words that stand in for a name in anonymized or test data; not a person.
PLACEHOLDER_WORDS = {
    "anon",
    "anonymous",
    "anonymized",
    "anonymised",
    "phantom",
    "test",
    "qa",
    "qc",
    "unknown",
    "removed",
    "none",
    "subject",
    "patient",
    "volunteer",
    "control",
}
_NAME_PART = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")  # letters, with O'Brien and Smith-Jones
_SEPARATORS = re.compile(r"[\^,\s_.]+")
_DIGIT_RUN = re.compile(r"\d+")


def looks_like_name(value: str) -> bool:
    """Does a value look like a person's name: `DOE^JOHN`, `Doe, John`, `John Doe`, `Smith`?

    Used on Patient Name, and on subject and session labels (`DOE_JOHN` when routing made a label
    from a Patient Name). A value with digits is taken for a code (`SUBJ01`); placeholders are not names.
    """
    text = (value or "").strip()
    if not text or any(c.isdigit() for c in text):
        return False
    parts = [p for p in _SEPARATORS.split(text) if p]
    if not parts or not all(_NAME_PART.fullmatch(p) for p in parts):
        return False
    words = [p for p in parts if p.lower() not in PLACEHOLDER_WORDS]
    if not words:
        return False
    if len(parts) >= 2:  # FAMILY^GIVEN, "Family, Given", "Given Family", GIVEN_FAMILY
        return sum(len(p) >= 2 for p in words) >= 1 and len(parts) <= 6
    word = words[0]
    return len(word) >= 3 and word[0].isupper() and word[1:].islower()  # "Smith", not "MPRAGE" or "brain"


def looks_like_record_number(value: str) -> bool:
    """Does a value look like a medical record or accession number: six or more digits in a row,
    or only digits (and separators) and at least five of them, e.g. `12345678`, `MRN0012345`, `12-345-678`?"""
    text = (value or "").strip()
    if not text:
        return False
    runs = _DIGIT_RUN.findall(text)
    if any(len(run) >= 6 for run in runs):
        return True
    compact = re.sub(r"[\s./-]", "", text)
    return compact.isdigit() and len(compact) >= 5


def identity_warnings(fields: dict[str, str], *, subject: str = "", session: str = "") -> dict[str, str]:
    """A warning per field (or label) that looks like it identifies a person; empty when none does.

    Study Description is shown, not judged: `BRAIN^ROUTINE` is shaped like a name and is not one.
    """
    warnings = {}
    if looks_like_name(fields.get("PatientName", "")):
        warnings["PatientName"] = "looks like a person's name"
    for keyword, what in (("PatientID", "Patient ID"), ("AccessionNumber", "Accession Number")):
        if looks_like_record_number(fields.get(keyword, "")):
            warnings[keyword] = f"looks like a medical record number ({what} from the hospital)"
        elif looks_like_name(fields.get(keyword, "")):
            warnings[keyword] = "looks like a person's name"
    for key, label in (("subject", subject), ("session", session)):
        if looks_like_name(label):
            warnings[key] = f"the {key} label '{label}' looks like a person's name; choose a code"
        elif looks_like_record_number(label):
            warnings[key] = f"the {key} label '{label}' looks like a medical record number; choose a code"
    return warnings


# --- Review and Archive -----------------------------------------------------------------------------
OVERWRITE_CHOICES = [
    (NONE, "Leave the existing session alone (archiving stops)"),
    (APPEND, "Add to the existing session: new scans and files; collisions stop archiving"),
    (DELETE, "Add to it and replace what collides (a backup of replaced files is kept)"),
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

    def __init__(self, data, projects: list[str], **kwargs):
        super().__init__(data, **kwargs)
        self.fields["project"].choices = [(p, p) for p in projects]


def kept_fields(session: PrearchiveSession) -> tuple[dict[str, str], str]:
    """The four fields the site script keeps, from the session's first instance; or an error."""
    file = queries.session_files(session).first()
    if file is None:
        return {}, "The session has no files"
    try:
        ds = pydicom.dcmread(file.absolute_path, stop_before_pixels=True, specific_tags=list(KEPT_FIELDS))
    except (OSError, ValueError, pydicom.errors.InvalidDicomError) as exc:
        return {}, f"Cannot read {Path(file.path).name}: {exc}"
    return {keyword: str(ds.get(keyword, "") or "") for keyword in KEPT_FIELDS}, ""


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
    }
    form = ReviewForm(request.POST or None, projects, initial=initial)
    chosen = form.cleaned_data if form.is_bound and form.is_valid() else (None if form.is_bound else initial)
    results, stopping = [], []
    if chosen is not None and session.project_id is not None:
        fields = {key: chosen[key] for key in ("project", "subject", "label", "overwrite")}
        results = operations.validate_archive(session, by=request.user, **fields)
        stopping = refusals(results, ArchiveRequest(overwrite=chosen["overwrite"]))
        if request.method == "POST" and "archive" in request.POST and not stopping:
            try:
                return _archive(request, session, **fields)
            except (NotFound, Forbidden):
                raise
            except XnatliteError as exc:
                form.add_error(None, exc.message)
    values, error = kept_fields(session)
    labels = chosen or initial
    target = labels["project"] if labels["project"] in projects else session.project_id
    context = {
        "session": _rows([session])[0],
        "form": form,
        "results": results,
        "stopping": stopping,
        "exists": any(r.code == 1 for r in results),
        "kept": [(KEPT_FIELD_TITLES[k], k, values.get(k, "")) for k in KEPT_FIELDS],
        "kept_error": error,
        "warnings": identity_warnings(values, subject=labels["subject"], session=labels["label"]),
        "subject_labels": archive_queries.subject_labels(target) if target else [],
        "scans": sorted(queries.scan_summary(session), key=lambda s: _scan_order(s["scan_id"])),
        "FAIL": FAIL,
        "CONFLICT": CONFLICT,
    }
    if session.project is not None:
        context.update(project_context(request, session.project, "prearchive"))
    return render(request, "prearchive/review.html", context)
