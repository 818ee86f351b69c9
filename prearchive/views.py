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

import pydicom
from django import forms
from django.contrib import messages
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db.models import Count, Min, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from archive import layout, permissions
from archive import queries as archive_queries
from archive.archiving import APPEND, CONFLICT, DELETE, FAIL, NONE, ArchiveRequest, refusals
from archive.models import ImageSession
from archive.views import header_of, page, paginate, project_context
from prearchive import operations, queries
from prearchive.ingest import IngestContext
from prearchive.models import ACTIONABLE, PrearchiveSession, Status
from prearchive.uploads import ingest_upload
from xnatlite.errors import Forbidden, InvalidInput, NotFound, XnatliteError

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
    destinations = permissions.projects_for(request.user, "edit").exclude(pk=session.project_id)
    shown = request.GET.get("scan", "")
    first = queries.session_files(session).filter(scan_id=shown).first() if shown else None
    header, header_error = header_of(first.absolute_path, Path(first.path).name) if first else ([], "")
    context = {
        "shown_scan": shown if first else "",
        "header": header,
        "header_error": header_error,
        "session": _rows([session])[0],
        "scans": sorted(scan_summary(session), key=lambda s: _scan_order(s["scan_id"])),
        "busy": session.status not in ACTIONABLE,
        "actionable": session.status in ACTIONABLE,
        "destinations": list(destinations.order_by("id").values_list("pk", flat=True)),
    }
    if session.project is not None:
        context.update(project_context(request, session.project, "prearchive"))
    return render(request, "prearchive/session.html", context)


def _scan_order(scan_id: str) -> tuple:
    """Scans in numeric order (2 before 10), as the archive sorts them."""
    number = re.match(r"\d+", scan_id)
    return (int(number.group()) if number else 1 << 30, scan_id)


# --- actions ------------------------------------------------------------------------------------------
def _listing_url(session: PrearchiveSession) -> str:
    if session.project_id is None:
        return reverse("prearchive") + "?project=" + queries.UNASSIGNED
    return reverse("prearchive-project", args=[session.project_id])


def _after_archive(
    request: HttpRequest, session: PrearchiveSession, project_id: str, label: str
) -> HttpResponse:
    """Where to go once archiving was asked: the archived session if it is there already (without a
    broker the task runs in this request), else the prearchive session, which refreshes meanwhile."""
    row = PrearchiveSession.objects.filter(pk=session.pk).first()
    if row is None:
        archived = ImageSession.objects.filter(project_id=project_id, label__iexact=label).first()
        messages.success(request, f"{label} is archived in project {project_id}.")
        if archived is not None:
            return redirect("session-detail", project_id=archived.project_id, session=archived.label)
        return redirect("prearchive-project", project_id=project_id)
    if row.status in (Status.CONFLICT, Status.ERROR):
        messages.error(request, f"{row.label} was not archived: {row.status_reason}")
    else:
        messages.success(request, f"{row.label} is queued for archiving; this page follows it.")
    return redirect(session_url(row))


def _archive(request: HttpRequest, session: PrearchiveSession, **fields) -> HttpResponse:
    operations.request_archive(session, by=request.user, **fields)
    return _after_archive(
        request, session, fields.get("project") or session.project_id, fields.get("label") or session.label
    )


@page
@require_POST
def session_action(request: HttpRequest, project: str, timestamp: str, folder: str) -> HttpResponse:
    """Archive (as it is), delete, move, rebuild or reset one prearchive session."""
    session = _session(request, project, timestamp, folder)
    action = request.POST.get("action", "")
    try:
        if action == "archive":
            return _archive(request, session)
        if action == "delete":
            operations.delete_session(session, by=request.user)
            messages.success(request, f"Prearchive session {session.label} and its files are deleted.")
            return redirect(_listing_url(session))
        if action == "move":
            moved = operations.move_session(session, request.POST.get("project", ""), by=request.user)
            messages.success(request, f"{moved.label} moved to the prearchive of {moved.project_name}.")
            return redirect(session_url(moved))
        if action == "rebuild":
            operations.rebuild_session(session, by=request.user)
        elif action == "reset":
            operations.reset_status(session, by=request.user)
        else:
            raise InvalidInput(f"Unknown action '{action}'")
        messages.success(request, f"{session.label} is {session.status}.")
    except (NotFound, Forbidden):
        raise
    except XnatliteError as exc:  # a busy or changed session, a conflict, a bad destination
        messages.error(request, exc.message)
    return redirect(session_url(session))


BULK_ACTIONS = {
    "archive": operations.request_archive,
    "delete": operations.delete_session,
    "rebuild": operations.rebuild_session,
}


@page
@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    """Archive, delete or rebuild the chosen rows of a prearchive list; each one on its own."""
    action = request.POST.get("action", "")
    ids = [int(i) for i in request.POST.getlist("session") if i.isdigit()]
    back = request.POST.get("next", "")
    if not back.startswith("/") or not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}
    ):
        back = reverse("prearchive")
    if action not in BULK_ACTIONS or not ids:
        messages.error(request, "Choose sessions and an action.")
        return redirect(back)
    done, failed = [], []
    for session in queries.prearchive_listing(request.user).filter(pk__in=ids):
        try:
            BULK_ACTIONS[action](session, by=request.user)
            done.append(session.label)
        except XnatliteError as exc:
            failed.append(f"{session.label}: {exc.message}")
    if done:
        messages.success(request, f"{action.capitalize()}: {', '.join(done)}.")
    for failure in failed:
        messages.error(request, failure)
    return redirect(back)


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
        "scans": sorted(scan_summary(session), key=lambda s: _scan_order(s["scan_id"])),
        "FAIL": FAIL,
        "CONFLICT": CONFLICT,
    }
    if session.project is not None:
        context.update(project_context(request, session.project, "prearchive"))
    return render(request, "prearchive/review.html", context)


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
        # The last request of an upload commits its sessions (the page's script sends commit=0 before,
        # and the ids of the sessions earlier batches filled in `also`), as XNAT's import does.
        also = [int(i) for i in request.POST.getlist("also") if i.isdigit()]
        commit = request.POST.get("commit", "1") != "0"
        outcome = _ingest(request, form.cleaned_data, files, commit_also=also if commit else None)
    if _wants_json(request):
        return JsonResponse(outcome, status=400 if outcome["error"] and not outcome["files"] else 200)
    return render(request, "prearchive/upload.html", {"form": form, "projects": projects, "outcome": outcome})


def _ingest(request: HttpRequest, data: dict, files, commit_also: list[int] | None) -> dict:
    """Ingest each uploaded file (an archive member by member); report sessions, counts, refusals.

    Unless `commit_also` is None the sessions filled (and those named in it) are then committed:
    built and made READY at once instead of after the idle timeout, and auto-archived if the
    project says so (prearchive/operations.py rebuild_session, XNAT's `action=commit`).
    """
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
    shown = list(sessions)
    if commit_also is not None:
        shown += [pk for pk in commit_also if pk not in sessions]  # their new status, for the page
        _commit(request, shown)
    fresh = {s.pk: s for s in queries.prearchive_listing(request.user).filter(pk__in=shown)}
    rows = [_session_json(fresh[pk]) for pk in shown if pk in fresh]
    # A session gone from the prearchive after its commit was archived (the project archives by itself).
    rows += [_archived_json(sessions[pk]) for pk in sessions if pk not in fresh]
    return {
        "sessions": rows,
        "files": count,
        "skipped": skipped[:SKIPPED_SHOWN],
        "skipped_count": len(skipped),
        "error": error,
    }


def _commit(request: HttpRequest, ids: list[int]) -> None:
    for session in queries.prearchive_listing(request.user).filter(pk__in=ids, status=Status.RECEIVING):
        try:
            operations.rebuild_session(session, by=request.user)
        except XnatliteError as exc:  # data still arriving, or another process got there first
            log.warning("upload: could not commit %s: %s", session, exc)


def _archived_json(session: PrearchiveSession) -> dict:
    archived = ImageSession.objects.filter(project_id=session.project_id, label__iexact=session.label).first()
    url = (
        reverse("session-detail", args=[archived.project_id, archived.label])
        if archived
        else reverse("project-detail", args=[session.project_id])
    )
    return {**_session_json(session), "url": url, "status": "ARCHIVED"}


def _session_json(session: PrearchiveSession) -> dict:
    return {
        "id": session.pk,
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
