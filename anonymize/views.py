"""The project anonymization script page (owners): edit, validate on save, dry run on a chosen instance.

Storage, validation and the dry run are anonymize/services.py's; this page only parses the form.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from anonymize import services
from archive import permissions, queries
from archive.views import page, project_context
from prearchive import queries as prearchive_queries
from xnatlite.errors import InvalidDicom, InvalidScript, NotFound

RECENT_SESSIONS = 100  # sessions offered for the dry run, newest first


class ProjectScriptForm(forms.Form):
    text = forms.CharField(
        label="Script (DicomEdit 6)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"class": "script", "rows": 18, "spellcheck": "false"}),
    )
    enabled = forms.BooleanField(label="Run this script when sessions are archived", required=False)
    deidentifying = forms.BooleanField(
        label="The script de-identifies (files are marked Patient Identity Removed)", required=False
    )


class DryRunForm(forms.Form):
    """Which instance to try the script on: a prearchive session (what the script will really see at
    archive) or an archived one; the first file of the chosen (or first) scan."""

    session = forms.ChoiceField(label="Session")
    scan = forms.CharField(label="Scan ID (empty: the first scan)", required=False, max_length=64)

    def __init__(self, data, prearchived, archived):
        super().__init__(data)
        self.fields["session"].choices = [
            (
                "Prearchive (not archived yet)",
                [(f"p:{s.pk}", f"{s.label} ({s.subject_label})") for s in prearchived],
            ),
            ("Archive", [(f"a:{s.label}", f"{s.label} ({s.subject.label})") for s in archived]),
        ]


def _instance(request: HttpRequest, project, choice: str, scan_id: str) -> dict:
    """The first DICOM file of the chosen scan (or the session's first scan), with its labels."""
    where, _, key = choice.partition(":")
    if where == "p":
        found = prearchive_queries.prearchive_listing(request.user, [project.id]).filter(pk=key).first()
        if found is None:
            raise NotFound("That prearchive session is gone")
        files = prearchive_queries.session_files(found)
        file = (files.filter(scan_id=scan_id) if scan_id else files).first()
        if file is None:
            raise NotFound(
                f"No scan '{scan_id}' in session {found.label}" if scan_id else "The session has no files"
            )
        return {
            "where": "prearchive",
            "subject": found.subject_label,
            "session": found.label,
            "scan": file.scan_id,
            "name": Path(file.path).name,
            "path": file.absolute_path,
        }
    session = queries.get_session(project, key)
    scans = queries.session_scans(session)
    scan = scans.filter(scan_id=scan_id).first() if scan_id else scans.first()
    if scan is None:
        raise NotFound(
            f"No scan '{scan_id}' in session {session.label}" if scan_id else "That session has no scans"
        )
    file = queries.scan_files(scan).filter(resource__label="DICOM").first()
    if file is None:
        raise NotFound(f"Scan {scan.scan_id} of {session.label} has no DICOM file")
    return {
        "where": "archive",
        "subject": session.subject.label,
        "session": session.label,
        "scan": scan.scan_id,
        "name": file.name,
        "path": file.absolute_path,
    }


@page
def project_script(request: HttpRequest, project_id: str) -> HttpResponse:
    """Show and save the project's script; `dry_run` in the POST previews it (saved or not) instead."""
    project = permissions.get_project(request.user, project_id, "see")
    permissions.require(request.user, "manage", project)
    state = services.get_project_script(project)
    archived = list(queries.session_listing(project, sort="-created")[:RECENT_SESSIONS])
    prearchived = list(prearchive_queries.prearchive_listing(request.user, [project.id])[:RECENT_SESSIONS])
    initial = {"text": state.text, "enabled": state.enabled, "deidentifying": state.deidentifying}
    form = ProjectScriptForm(request.POST or None, initial=initial)
    dry_form = DryRunForm(request.POST if "dry_run" in request.POST else None, prearchived, archived)
    changes = instance = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "dry_run" in request.POST:
            if dry_form.is_valid():
                try:
                    instance = _instance(
                        request, project, dry_form.cleaned_data["session"], dry_form.cleaned_data["scan"]
                    )
                    changes = services.dry_run_project_script(
                        project,
                        instance["path"],
                        by=request.user,
                        text=data["text"],
                        subject=instance["subject"],
                        session=instance["session"],
                    )
                except (InvalidScript, InvalidDicom, NotFound) as exc:
                    dry_form.add_error(None, exc.message)
                    instance = None
        else:
            try:
                saved = services.save_project_script(
                    project,
                    data["text"],
                    enabled=data["enabled"],
                    deidentifying=data["deidentifying"],
                    by=request.user,
                )
            except InvalidScript as exc:
                form.add_error("text", exc.message)
            else:
                messages.success(
                    request, f"Anonymization script of {project.id} saved as version {saved.version}."
                )
                return redirect("project-script", project_id=project.id)
    context = project_context(request, project, "anonymization")
    context.update(
        state=state,
        form=form,
        dry_form=dry_form,
        changes=changes,
        instance=instance,
        has_instances=bool(archived or prearchived),
        versions=services.script_versions(project)[:20],
    )
    return render(request, "anonymize/project_script.html", context)
