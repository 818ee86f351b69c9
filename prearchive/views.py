"""Prearchive and upload pages: what arrived, its status, and the way into the archive.

Rows and sessions come from prearchive/queries.py (which decides who sees what: owners and members of
a project, site admins also Unassigned, xnat-spec.md §2.4); uploads go through prearchive/uploads.py
into the one ingest path. Pages refresh themselves with a small script while a session is busy.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

from django import forms
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db.models import Count, Min, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from archive import layout, permissions
from archive.views import page, paginate, project_context
from prearchive import queries
from prearchive.ingest import IngestContext
from prearchive.models import ACTIONABLE, PrearchiveSession
from prearchive.uploads import ingest_upload
from xnatlite.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

PER_PAGE = 100
SKIPPED_SHOWN = 20


def session_url(session: PrearchiveSession, name: str = "prearchive-session") -> str:
    return reverse(name, args=[session.project_name, session.timestamp, session.folder_name])


def _rows(sessions) -> list[PrearchiveSession]:
    """Rows with `.busy` (the page refreshes while any is) and `.page_url`."""
    rows = list(sessions)
    for row in rows:
        row.busy = row.status not in ACTIONABLE
        row.page_url = session_url(row)
    return rows


def _listing(
    request: HttpRequest, rows, context: dict, template: str = "prearchive/list.html"
) -> HttpResponse:
    context["page"] = paginate(request, rows, per_page=PER_PAGE)
    context["rows"] = _rows(context["page"])
    context["busy"] = any(row.busy for row in context["rows"])
    return render(request, template, context)


@page
def site_prearchive(request: HttpRequest) -> HttpResponse:
    """Every prearchive session the user may act on (site admins: Unassigned too), newest first."""
    chosen = request.GET.get("project", "")
    rows = queries.prearchive_listing(request.user, [chosen] if chosen else None)
    projects = list(
        permissions.projects_for(request.user, "prearchive").order_by("id").values_list("pk", flat=True)
    )
    if permissions.is_site_admin(request.user):
        projects.insert(0, queries.UNASSIGNED)
    context = {"projects": projects, "chosen": chosen, "site_wide": True}
    return _listing(request, rows, context)


@page
def project_prearchive(request: HttpRequest, project_id: str) -> HttpResponse:
    """One project's prearchive (owners and members)."""
    project = permissions.get_project(request.user, project_id, "see")
    permissions.require(request.user, "prearchive", project)
    context = project_context(request, project, "prearchive")
    return _listing(request, queries.prearchive_listing(request.user, [project.id]), context)


def _session(request: HttpRequest, project: str, timestamp: str, folder: str) -> PrearchiveSession:
    return queries.get_prearchive_session(request.user, project, timestamp, folder)


def scan_summary(session: PrearchiveSession) -> list[dict]:
    """Per scan: ID, series description, modality, files, frames, bytes (one grouped query)."""
    return list(
        queries.session_files(session)
        .order_by()
        .values("scan_id")
        .annotate(
            series_description=Min("series_description"),
            modality=Min("modality"),
            files=Count("id"),
            frames=Sum("frames"),
            size=Sum("size"),
        )
        .order_by("scan_id")
    )


@page
def session_detail(request: HttpRequest, project: str, timestamp: str, folder: str) -> HttpResponse:
    """One prearchive session: its status (and why, for ERROR/CONFLICT), scans and actions."""
    session = _session(request, project, timestamp, folder)
    context = {
        "session": _rows([session])[0],
        "scans": sorted(scan_summary(session), key=lambda s: _scan_order(s["scan_id"])),
        "busy": session.status not in ACTIONABLE,
    }
    if session.project is not None:
        context.update(project_context(request, session.project, "prearchive"))
    return render(request, "prearchive/session.html", context)


def _scan_order(scan_id: str) -> tuple:
    """Scans in numeric order (2 before 10), as the archive sorts them."""
    number = re.match(r"\d+", scan_id)
    return (int(number.group()) if number else 1 << 30, scan_id)


# --- upload -------------------------------------------------------------------------------------------
class UploadForm(forms.Form):
    project = forms.ChoiceField(label="Project")
    subject = forms.CharField(
        label="Subject (optional)",
        required=False,
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
        help_text="Empty: taken from the DICOM headers, as for data sent by a scanner.",
    )
    session = forms.CharField(
        label="Session (optional)",
        required=False,
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
    )

    def __init__(self, data, projects: list[str]):
        super().__init__(data)
        self.fields["project"].choices = [(p, p) for p in projects]


def _upload_projects(request: HttpRequest) -> list[str]:
    return list(
        permissions.projects_for(request.user, "prearchive").order_by("id").values_list("pk", flat=True)
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@csrf_exempt  # the token is checked below, after the upload handlers are set (Django docs, "upload handlers")
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a zip/tar or DICOM files into a project's prearchive: every file goes to disk, never memory."""
    if request.method == "POST":
        request.upload_handlers = [TemporaryFileUploadHandler(request)]
    return _upload(request)


@page
@csrf_protect
def _upload(request: HttpRequest) -> HttpResponse:
    projects = _upload_projects(request)
    initial_project = request.GET.get("project", "")
    form = UploadForm(request.POST if request.method == "POST" else None, projects)
    if request.method == "GET":
        form.initial["project"] = initial_project
        return render(request, "prearchive/upload.html", {"form": form, "projects": projects})
    files = request.FILES.getlist("files")
    outcome = {"sessions": [], "files": 0, "skipped": [], "error": ""}
    if not form.is_valid():
        outcome["error"] = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
    elif not files:
        outcome["error"] = "Choose a zip file or DICOM files to upload."
    else:
        outcome = _ingest(request, form.cleaned_data, files)
    if _wants_json(request):
        return JsonResponse(outcome, status=400 if outcome["error"] and not outcome["files"] else 200)
    return render(request, "prearchive/upload.html", {"form": form, "projects": projects, "outcome": outcome})


def _ingest(request: HttpRequest, data: dict, files) -> dict:
    """Ingest each uploaded file (an archive member by member); report sessions, counts, refusals."""
    context = IngestContext(
        source="web",
        project=data["project"],
        subject=data["subject"],
        session=data["session"],
        user=request.user,
    )
    sessions: dict[int, PrearchiveSession] = {}
    count, skipped, error = 0, [], ""
    for uploaded in files:
        path = Path(uploaded.temporary_file_path())
        taken = [0]  # files of this upload ingested so far, kept even if a later member is refused
        try:
            result = ingest_upload(
                path, context, ignore_unparsable=True, progress=functools.partial(taken.__setitem__, 0)
            )
        except (InvalidInput, NotFound) as exc:  # a hostile archive, a project the user may not use
            error = f"{uploaded.name}: {exc.message}"
            log.warning("upload by %s refused after %d files: %s", request.user, taken[0], error)
            count += taken[0]
            break
        finally:
            uploaded.close()
        count += result.files
        # A single file is ingested under its temporary name: report the name the user knows.
        skipped += [
            uploaded.name if name == path.name else f"{uploaded.name}: {name}" for name in result.skipped
        ]
        for session in result.sessions:
            sessions.setdefault(session.pk, session)
    log.info(
        "upload by %s into %s: %d files, %d sessions", request.user, data["project"], count, len(sessions)
    )
    fresh = {s.pk: s for s in PrearchiveSession.objects.filter(pk__in=sessions).select_related("project")}
    return {
        "sessions": [_session_json(fresh[pk]) for pk in sessions if pk in fresh],
        "files": count,
        "skipped": skipped[:SKIPPED_SHOWN],
        "skipped_count": len(skipped),
        "error": error,
    }


def _session_json(session: PrearchiveSession) -> dict:
    return {
        "url": session_url(session),
        "project": session.project_name,
        "subject": session.subject_label,
        "label": session.label,
        "status": session.status,
        "files": session.file_count,
        "scans": session.scan_count,
    }


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
