"""The project anonymization script page (owners): edit, validate on save, dry run on a chosen instance.

Storage, validation and the dry run are anonymize/services.py's; this page only parses the form.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from anonymize import services
from archive import permissions, queries
from archive.views import page, project_context
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
    session = forms.ChoiceField(label="Session")
    scan = forms.CharField(label="Scan ID (empty: the first scan)", required=False, max_length=64)

    def __init__(self, data, sessions):
        super().__init__(data)
        self.fields["session"].choices = [(s.label, f"{s.label} ({s.subject.label})") for s in sessions]


def _instance(project, session_label: str, scan_id: str):
    """The first DICOM file of the chosen scan (or the session's first scan), with its labels."""
    session = queries.get_session(project, session_label)
    scans = queries.session_scans(session)
    scan = scans.filter(scan_id=scan_id).first() if scan_id else scans.first()
    if scan is None:
        raise NotFound(
            f"No scan '{scan_id}' in session {session.label}" if scan_id else "That session has no scans"
        )
    file = queries.scan_files(scan).filter(resource__label="DICOM").first()
    if file is None:
        raise NotFound(f"Scan {scan.scan_id} of {session.label} has no DICOM file")
    return session, scan, file


@page
def project_script(request: HttpRequest, project_id: str) -> HttpResponse:
    """Show and save the project's script; `dry_run` in the POST previews it (saved or not) instead."""
    project = permissions.get_project(request.user, project_id, "see")
    permissions.require(request.user, "manage", project)
    state = services.get_project_script(project)
    sessions = list(queries.session_listing(project, sort="-created")[:RECENT_SESSIONS])
    initial = {"text": state.text, "enabled": state.enabled, "deidentifying": state.deidentifying}
    form = ProjectScriptForm(request.POST or None, initial=initial)
    dry_form = DryRunForm(request.POST if "dry_run" in request.POST else None, sessions)
    changes = instance = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "dry_run" in request.POST:
            if dry_form.is_valid():
                try:
                    session, scan, file = _instance(
                        project, dry_form.cleaned_data["session"], dry_form.cleaned_data["scan"]
                    )
                    changes = services.dry_run_project_script(
                        project,
                        file.absolute_path,
                        by=request.user,
                        text=data["text"],
                        subject=session.subject.label,
                        session=session.label,
                    )
                    instance = {"session": session, "scan": scan, "file": file}
                except (InvalidScript, InvalidDicom, NotFound) as exc:
                    dry_form.add_error(None, exc.message)
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
        versions=services.script_versions(project)[:20],
    )
    return render(request, "anonymize/project_script.html", context)
