"""The prearchive lists and session pages, and what people do there: archive as it is, delete, move,
rebuild, reset a stuck status, or all of these on chosen rows.

Archiving labels that look like a person's name or a medical record number (the identity policy,
archiving/identity.py) asks first, on a page of its own that lists them: archived only once the person
confirms (`confirm_identifiers`), for one session or for the chosen rows.

Rows and sessions come from prearchive/queries.py (which decides who sees what: owners and members of
a project, site admins also Unassigned, xnat-spec.md §2.4, and each account its own Unassigned uploads); actions are prearchive/operations.py's.
Pages refresh themselves with static/refresh.js while a session is busy.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from archive.views import header_of, page, paginate, project_context
from prearchive import handoff, operations, queries
from prearchive.models import ACTIONABLE, PrearchiveSession, Status
from xnatlite import permissions
from xnatlite.errors import Forbidden, InvalidInput, NotFound, UnconfirmedIdentifiers, XnatliteError

log = logging.getLogger(__name__)

PER_PAGE = 100


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
    context["version"] = queries.listing_version(rows)
    return render(request, template, context)


@page
def listing_version(request: HttpRequest) -> JsonResponse:
    """The digest of a prearchive listing (`?project=`; none: every project the user may use), which
    the listing pages poll to show sessions that arrive while nothing is busy. A project the user may
    not use gives the digest of an empty listing, as if it did not exist."""
    chosen = request.GET.get("project", "")
    rows = queries.prearchive_listing(request.user, [chosen] if chosen else None)
    return JsonResponse({"version": queries.listing_version(rows)})


@page
def site_prearchive(request: HttpRequest) -> HttpResponse:
    """Every prearchive session the user may act on (site admins: Unassigned too), newest first."""
    chosen = request.GET.get("project", "")
    rows = queries.prearchive_listing(request.user, [chosen] if chosen else None)
    projects = list(
        permissions.projects_for(request.user, "prearchive").order_by("id").values_list("pk", flat=True)
    )
    scope = permissions.unassigned_scope(request.user)
    if scope == "all" or (
        scope == "own" and queries.prearchive_listing(request.user, [queries.UNASSIGNED]).exists()
    ):
        projects.insert(0, queries.UNASSIGNED)  # an account sees its own Unassigned uploads
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
        "scans": queries.scan_summary(session),
        "busy": session.status not in ACTIONABLE,
        "actionable": session.status in ACTIONABLE,
        "destinations": list(destinations.order_by("id").values_list("pk", flat=True)),
    }
    if session.project is not None:
        context.update(project_context(request, session.project, "prearchive"))
    return render(request, "prearchive/session.html", context)


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
        archived = queries.archived_as(session, project_id)
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
    handoff.queue_archive(session, by=request.user, **fields)
    return _after_archive(
        request, session, fields.get("project") or session.project_id, fields.get("label") or session.label
    )


def _confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirm_identifiers") == "1"


def _confirm_identifiers(
    request: HttpRequest,
    flagged: list[tuple[PrearchiveSession, list[str]]],
    *,
    action_url: str,
    back: str,
    project=None,
) -> HttpResponse:
    """The confirm step of the identity policy: which labels look like a name or an MRN, and a form that
    archives exactly these sessions again with `confirm_identifiers`."""
    rows = _rows(session for session, _ in flagged)
    for row, (_, findings) in zip(rows, flagged, strict=True):
        row.findings = findings
    context = {"flagged": rows, "action_url": action_url, "back": back}
    if project is not None:
        context.update(project_context(request, project, "prearchive"))
    return render(request, "prearchive/confirm_identifiers.html", context)


@page
@require_POST
def session_action(request: HttpRequest, project: str, timestamp: str, folder: str) -> HttpResponse:
    """Archive (as it is), delete, move, rebuild or reset one prearchive session."""
    session = _session(request, project, timestamp, folder)
    action = request.POST.get("action", "")
    try:
        if action == "archive":
            try:
                return _archive(request, session, confirm_identifiers=_confirmed(request))
            except UnconfirmedIdentifiers as exc:
                return _confirm_identifiers(
                    request,
                    [(session, exc.findings)],
                    action_url=reverse("prearchive-action", args=[project, timestamp, folder]),
                    back=session_url(session),
                    project=session.project,
                )
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
    "archive": handoff.queue_archive,
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
    done, failed, flagged = [], [], []
    asked = {"confirm_identifiers": _confirmed(request)} if action == "archive" else {}
    for session in queries.prearchive_listing(request.user).filter(pk__in=ids):
        try:
            BULK_ACTIONS[action](session, by=request.user, **asked)
            done.append(session.label)
        except UnconfirmedIdentifiers as exc:
            flagged.append((session, exc.findings))
        except XnatliteError as exc:
            failed.append(f"{session.label}: {exc.message}")
    if done:
        messages.success(request, f"{action.capitalize()}: {', '.join(done)}.")
    for failure in failed:
        messages.error(request, failure)
    if flagged:  # the others went ahead; these wait for the person to confirm them
        return _confirm_identifiers(request, flagged, action_url=reverse("prearchive-bulk"), back=back)
    return redirect(back)
