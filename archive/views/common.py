"""What every page of the browser UI shares: errors become pages in `page` (NotFound -> 404, Forbidden ->
403, so a stranger cannot tell a private project exists), pagination, the project title bar, history rows.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from archive import queries
from archive.events import event_words
from archive.models import File, ImageSession, Resource, Scan, Subject
from archive.services.subjects import find_subject
from prearchive import queries as prearchive_queries
from xnatlite import permissions
from xnatlite.errors import Forbidden, NotFound, XnatliteError
from xnatlite.models import Project
from xnatlite.uploads import UploadFolderHandler

log = logging.getLogger(__name__)

PER_PAGE_DEFAULT, PER_PAGE_MAX = 50, 500


# --- the one place errors become pages --------------------------------------------------------------
def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "403.html", {"message": message}, status=403)


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A signed-in page whose NotFound is a 404 and whose Forbidden is a 403 (used by every UI app)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None
        except Forbidden as exc:
            log.info("refused %s %s to %s: %s", request.method, request.path, request.user, exc)
            return forbidden(request, exc.message)

    return wrapper


def uploads_to_disk(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view whose uploaded files are written to temporary files on disk as they arrive, never held in
    memory. The CSRF token is checked after the handlers are set, since checking it reads the body
    (Django's docs, "Modifying upload handlers on the fly")."""
    protected = csrf_protect(view)

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            request.upload_handlers = [UploadFolderHandler(request)]
        return protected(request, *args, **kwargs)

    return wrapper


def paginate(request: HttpRequest, rows, per_page: int = PER_PAGE_DEFAULT) -> Page:
    """One page of rows (`?page=`, `?per_page=` up to 500); costs a COUNT and the page's query."""
    try:
        per_page = max(10, min(PER_PAGE_MAX, int(request.GET.get("per_page", per_page))))
    except ValueError:
        pass
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def readable_project(request: HttpRequest, project_id: str) -> Project:
    """A project whose data the user may read; NotFound otherwise (protected data stays hidden)."""
    project = permissions.get_project(request.user, project_id, "see")
    if not permissions.can(request.user, "read", project):
        raise NotFound(f"Project '{project_id}' not found")
    return project


def project_context(request: HttpRequest, project: Project, tab: str) -> dict:
    """What every project page shows in its title bar: the tabs the user may open."""
    user = request.user
    can_prearchive = permissions.can(user, "prearchive", project)
    waiting = prearchive_queries.prearchive_listing(user, [project.id]).count() if can_prearchive else None
    return {
        "project": project,
        "tab": tab,
        "can_read": permissions.can(user, "read", project),
        "can_edit": permissions.can(user, "edit", project),
        "can_manage": permissions.can(user, "manage", project),
        "can_delete": permissions.can(user, "delete", project),
        "can_prearchive": can_prearchive,
        "prearchive_waiting": waiting,
    }


HISTORY_HIDDEN_DETAILS = {"previous_text"}  # a whole script's text does not fit a table cell
# What readers below owner (members, collaborators, readers of a public project) see of an event's
# details: counts and choices, never a label. Labels from before a rename and the prearchive path (whose
# folder is named after the original Patient ID) are pre-archive identifiers: owners only (issue 15).
READER_DETAILS = {
    "scans",
    "files",
    "rejected",
    "replaced",
    "merged",
    "overwrite",
    "xsi_type",
    "fields",
    "file",
    "size",
    "archive",
    "scan_id",
    "unreadable",
}


def history_rows(events, *, full: bool = True, labels: dict[tuple[str, str], str] | None = None) -> list:
    """Audit events with `.summary`, their details as one line of text. Not `full` (anyone below owner):
    only READER_DETAILS, and each event names its object by `labels` (object type and id -> the object's
    label today) instead of the label it had then."""
    rows = list(events)
    for event in rows:
        parts = []
        for key, value in (event.details or {}).items():
            if key in HISTORY_HIDDEN_DETAILS or (not full and key not in READER_DETAILS):
                continue
            text = ", ".join(map(str, value)) if isinstance(value, list) else value
            parts.append(f"{key}: {text}")
        event.summary = "; ".join(parts)
        event.words = event_words(event.action)
        if not full:
            event.object_label = (labels or {}).get((event.object_type, event.object_id), event.object_type)
    return rows


def header_of(path, name: str) -> tuple[list, str]:
    """(header rows, "") of a DICOM file, or ([], why not): a missing or unreadable file is shown."""
    try:
        return queries.dicom_header(path), ""
    except (OSError, ValueError, XnatliteError) as exc:
        return [], f"Cannot read {name}: {exc}"


# --- finding what the URL names -------------------------------------------------------------------
def subject_of(project: Project, label_or_id: str) -> Subject:
    subject = find_subject(project, label_or_id)
    if subject is None:
        raise NotFound(f"No subject '{label_or_id}' in project {project.id}")
    subject.project = project
    return subject


def scan_of(session: ImageSession, scan_id: str) -> Scan:
    scan = Scan.objects.filter(session=session, scan_id=scan_id).first()
    if scan is None:
        raise NotFound(f"No scan '{scan_id}' in session {session.label}")
    scan.session = session
    return scan


def owned_file(owner: Project | Subject, file_id: int) -> File:
    """A file of one of the project's or subject's own resources; NotFound otherwise."""
    field = Resource.owner_field(owner)
    file = File.objects.select_related("resource").filter(pk=file_id, **{f"resource__{field}": owner}).first()
    if file is None:
        raise NotFound(f"No such file in this {field}'s resources")
    setattr(file.resource, field, owner)
    return file


def session_file(session: ImageSession, file_id: int) -> File:
    """A file of one of the session's scan resources or of its own resources; NotFound otherwise."""
    files = File.objects.select_related("resource__scan")
    file = (
        files.filter(pk=file_id, resource__scan__session=session).first()
        or files.filter(pk=file_id, resource__session=session).first()
    )
    if file is None:
        raise NotFound("No such file in this session")
    if file.resource.scan_id:
        file.resource.scan.session = session
    else:
        file.resource.session = session
    return file
