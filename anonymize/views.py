"""The anonymization script pages: a project's script (owners) and the site script (site admins). Each
shows the script, saves it (validated: a parse error names its line and column), switches it on or off,
lists its saved versions (one loads back into the editor) and dry-runs the text in the box, saved or
not, on an instance chosen from the prearchive or the archive. Nothing is written by a dry run.

Storage, validation and the dry run are anonymize/services.py's; these pages only parse the forms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from anonymize import services
from anonymize.dicomedit import Preview
from archive import queries
from archive.models import ImageSession
from archive.views import page, project_context
from prearchive import queries as prearchive_queries
from prearchive.models import PrearchiveSession
from xnatlite import permissions
from xnatlite.errors import InvalidDicom, InvalidScript, NotFound

RECENT_SESSIONS = 100  # sessions offered for the dry run, newest first
VERSIONS_SHOWN = 20


class ScriptForm(forms.Form):
    text = forms.CharField(
        label="Script (DicomEdit 6)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"class": "script", "rows": 18, "spellcheck": "false"}),
    )
    lookup_table = forms.CharField(
        label="Lookup table (what lookup[category, key] answers: one category/key = value per line)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"class": "script", "rows": 4, "spellcheck": "false"}),
    )
    enabled = forms.BooleanField(required=False)
    deidentifying = forms.BooleanField(
        label="The script de-identifies (files are marked Patient Identity Removed)", required=False
    )

    def __init__(self, *args, enabled_label: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["enabled"].label = enabled_label

    def clean_text(self) -> str:
        """Browsers send a textarea's lines ended by CR LF (HTML's form encoding); scripts keep LF."""
        return self.cleaned_data["text"].replace("\r\n", "\n")

    def clean_lookup_table(self) -> str:
        return self.cleaned_data["lookup_table"].replace("\r\n", "\n")


class DryRunForm(forms.Form):
    """Which instance to try the script on: the first file of the chosen (or first) scan of a
    prearchive session (what the script will really see) or of an archived one."""

    session = forms.ChoiceField(label="Session")
    scan = forms.CharField(label="Scan ID (empty: the first scan)", required=False, max_length=64)

    def __init__(self, data, prearchived, archived):
        super().__init__(data)
        self.fields["session"].choices = [
            (
                "Prearchive (not archived yet)",
                [(f"p:{s.pk}", f"{s.project_name}/{s.label} ({s.subject_label})") for s in prearchived],
            ),
            ("Archive", [(f"a:{s.pk}", f"{s.project_id}/{s.label} ({s.subject.label})") for s in archived]),
        ]


@dataclass(frozen=True)
class Instance:
    """One DICOM file to dry-run a script on, with the labels the script would run with."""

    where: str  # "prearchive" or "archive"
    project: str
    subject: str
    session: str
    scan: str
    name: str
    path: Path


def _instance(
    choice: str, scan_id: str, prearchived: QuerySet[PrearchiveSession], archived: QuerySet[ImageSession]
) -> Instance:
    """The first DICOM file of the chosen scan (or the session's first scan) of a session that the
    form offered (`p:{pk}` prearchive, `a:{pk}` archive)."""
    where, _, key = choice.partition(":")
    if where == "p":
        found = prearchived.filter(pk=key).first()
        if found is None:
            raise NotFound("That prearchive session is gone")
        files = prearchive_queries.session_files(found)
        file = (files.filter(scan_id=scan_id) if scan_id else files).first()
        if file is None:
            raise NotFound(
                f"No scan '{scan_id}' in session {found.label}" if scan_id else "The session has no files"
            )
        return Instance(
            "prearchive",
            found.project_name,
            found.subject_label,
            found.label,
            file.scan_id,
            Path(file.path).name,
            file.absolute_path,
        )
    session = archived.select_related("subject").filter(pk=key).first()
    if session is None:
        raise NotFound("That archived session is gone")
    scans = queries.session_scans(session)
    scan = scans.filter(scan_id=scan_id).first() if scan_id else scans.first()
    if scan is None:
        raise NotFound(
            f"No scan '{scan_id}' in session {session.label}" if scan_id else "That session has no scans"
        )
    file = queries.resource_files_of(scan).filter(resource__label="DICOM").first()
    if file is None:
        raise NotFound(f"Scan {scan.scan_id} of {session.label} has no DICOM file")
    return Instance(
        "archive",
        session.project_id,
        session.subject.label,
        session.label,
        scan.scan_id,
        file.name,
        file.absolute_path,
    )


@dataclass(frozen=True)
class ScriptPage:
    """What differs between the site script's page and a project script's."""

    state: services.ScriptState
    versions: QuerySet
    prearchived: QuerySet[PrearchiveSession]  # sessions a dry run may use
    archived: QuerySet[ImageSession]
    enabled_label: str
    save: Callable[..., services.ScriptState]  # (text, enabled=, deidentifying=, lookup_table=, by=)
    dry_run: Callable[[str, str, Instance], Preview]  # (text, lookup table, instance) -> what it does
    saved_message: str  # "... saved as version {version}."


def _script_page(
    request: HttpRequest, spec: ScriptPage, context: dict, template: str, *, done_url: str
) -> HttpResponse:
    """Show the script; `save` in the POST stores it, `dry_run` previews the box's text instead."""
    state = spec.state
    initial = {
        "text": state.text,
        "lookup_table": state.lookup_table,
        "enabled": state.enabled,
        "deidentifying": state.deidentifying,
    }
    loaded = None
    wanted = request.GET.get("version", "")
    if request.method == "GET" and wanted.isdigit():
        loaded = spec.versions.filter(version=int(wanted)).first()
        if loaded is not None:
            initial.update(text=loaded.text, enabled=loaded.enabled, deidentifying=loaded.deidentifying)
    form = ScriptForm(request.POST or None, initial=initial, enabled_label=spec.enabled_label)
    prearchived = list(spec.prearchived[:RECENT_SESSIONS])
    archived = list(spec.archived.select_related("subject")[:RECENT_SESSIONS])
    dry_form = DryRunForm(request.POST if "dry_run" in request.POST else None, prearchived, archived)
    result = instance = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "dry_run" in request.POST:
            if dry_form.is_valid():
                try:
                    chosen = dry_form.cleaned_data
                    instance = _instance(chosen["session"], chosen["scan"], spec.prearchived, spec.archived)
                    result = spec.dry_run(data["text"], data["lookup_table"], instance)
                except (InvalidScript, InvalidDicom, NotFound) as exc:
                    dry_form.add_error(None, exc.message)
                    instance = None
        else:
            try:
                saved = spec.save(
                    data["text"],
                    enabled=data["enabled"],
                    deidentifying=data["deidentifying"],
                    lookup_table=data["lookup_table"],
                    by=request.user,
                )
            except InvalidScript as exc:
                form.add_error("text", exc.message)
            else:
                messages.success(request, spec.saved_message.format(version=saved.version))
                return redirect(done_url)
    context.update(
        state=state,
        form=form,
        dry_form=dry_form,
        changes=result.changes if result else None,
        dates=result.dates if result else None,
        dry_warnings=result.warnings if result else None,
        instance=instance,
        loaded=loaded,
        has_instances=bool(archived or prearchived),
        versions=spec.versions[:VERSIONS_SHOWN],
    )
    return render(request, template, context)


@page
def project_script(request: HttpRequest, project_id: str) -> HttpResponse:
    """A project's script, run when its sessions are archived with their final labels (owners)."""
    project = permissions.get_project(request.user, project_id, "see")
    permissions.require(request.user, "manage", project)

    def dry_run(text: str, lookup_table: str, instance: Instance) -> Preview:
        return services.dry_run_project_script(
            project,
            instance.path,
            by=request.user,
            text=text,
            lookup_table=lookup_table,
            subject=instance.subject,
            session=instance.session,
        )

    spec = ScriptPage(
        state=services.get_project_script(project),
        versions=services.script_versions(project),
        prearchived=prearchive_queries.prearchive_listing(request.user, [project.id]),
        archived=queries.session_listing(project, sort="-created"),
        enabled_label="Run this script when sessions are archived",
        save=lambda text, **options: services.save_project_script(project, text, **options),
        dry_run=dry_run,
        saved_message=f"Anonymization script of {project.id} saved as version {{version}}.",
    )
    context = project_context(request, project, "anonymization")
    context["is_site_admin"] = permissions.is_site_admin(request.user)
    return _script_page(request, spec, context, "anonymize/project_script.html", done_url=request.path)


@page
def site_script(request: HttpRequest) -> HttpResponse:
    """The site script, run on every instance as it arrives with the routed labels (site admins)."""
    permissions.require_site_admin(request.user)

    def dry_run(text: str, lookup_table: str, instance: Instance) -> Preview:
        variables = {"project": instance.project, "subject": instance.subject, "session": instance.session}
        return services.dry_run_site_script(
            instance.path, by=request.user, text=text, lookup_table=lookup_table, variables=variables
        )

    spec = ScriptPage(
        state=services.get_site_script(),
        versions=services.script_versions(None),
        prearchived=prearchive_queries.prearchive_listing(request.user),  # Unassigned too
        archived=ImageSession.objects.order_by("-created_at", "-pk"),
        enabled_label="Run this script on every instance as it arrives",
        save=services.save_site_script,
        dry_run=dry_run,
        saved_message="Site anonymization script saved as version {version}.",
    )
    return _script_page(request, spec, {}, "anonymize/site_script.html", done_url=request.path)
