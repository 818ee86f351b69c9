"""Audit events in the words of the history pages: what each action means to a person, and the kinds
the project history can be filtered by. The audit log keeps the dotted actions (xnatlite/audit.py)."""

from __future__ import annotations

EVENT_WORDS = {
    "archive.project.created": "Project created",
    "archive.project.updated": "Settings changed",
    "archive.project.deleted": "Project deleted",
    "archive.project.alias_added": "Alias added",
    "archive.project.alias_removed": "Alias removed",
    "archive.project.role_set": "Role given",
    "archive.project.user_removed": "User removed from the project",
    "archive.project.requested": "Project requested",
    "archive.project.request_approved": "Project request approved",
    "archive.project.request_refused": "Project request refused",
    "archive.subject.created": "Subject created",
    "archive.subject.updated": "Subject fields changed",
    "archive.subject.relabelled": "Subject renamed",
    "archive.subject.deleted": "Subject deleted",
    "archive.session.created": "Session created",
    "archive.session.updated": "Session fields changed",
    "archive.session.relabelled": "Session renamed",
    "archive.session.deleted": "Session deleted",
    "archive.session.archived": "Session archived",
    "archive.session.headers_rewritten": "New labels written into the DICOM files",
    "archive.scan.created": "Scan created",
    "archive.scan.updated": "Scan fields changed",
    "archive.scan.deleted": "Scan deleted",
    "archive.resource.created": "Resource created",
    "archive.resource.deleted": "Resource deleted",
    "archive.file.stored": "File uploaded",
    "archive.file.extracted": "Zip or tar unpacked into a resource",
    "archive.file.deleted": "File deleted",
    "archive.custom_variables.set": "Custom fields set",
    "archive.previews.requested": "Previews asked for",
    "archive.previews.remade": "Previews made again",
    "anonymize.project_script.saved": "Anonymization script saved",
    "anonymize.site_script.saved": "Site anonymization script saved",
    "prearchive.session.created": "Data arrived in the prearchive",
    "prearchive.session.reopened": "More data arrived for a prearchive session",
    "prearchive.session.rebuilt": "Prearchive session built",
    "prearchive.session.build_failed": "Building a prearchive session failed",
    "prearchive.session.archive_requested": "Archiving asked for",
    "prearchive.session.archive_failed": "Archiving failed",
    "prearchive.session.auto_archive_queued": "Auto-archive started",
    "prearchive.session.auto_archive_refused": "Auto-archive refused",
    "prearchive.session.moved": "Prearchive session moved to another project",
    "prearchive.session.deleted": "Prearchive session deleted",
    "prearchive.session.recovered": "Prearchive session recovered after a crash",
    "prearchive.session.removed_empty": "Empty prearchive session removed",
    "prearchive.session.status_reset": "Prearchive status reset",
    "receiver.instance.quarantined": "Instance quarantined by the receiver",
    "receiver.instance.requeued": "Quarantined instance sent again",
    "receiver.instance.deleted": "Quarantined instance deleted",
}

# The history's filter: a kind and the action prefixes it covers.
EVENT_KINDS = {
    "project": ("Project, users and settings", ("archive.project.", "anonymize.")),
    "subject": ("Subjects", ("archive.subject.",)),
    "session": ("Sessions", ("archive.session.", "archive.custom_variables.", "archive.previews.")),
    "scan": ("Scans", ("archive.scan.",)),
    "file": ("Files and resources", ("archive.file.", "archive.resource.")),
    "prearchive": ("Prearchive", ("prearchive.", "receiver.")),
}


def event_words(action: str) -> str:
    """'archive.session.relabelled' -> 'Session renamed'; an action not listed reads from its parts."""
    if action in EVENT_WORDS:
        return EVENT_WORDS[action]
    parts = action.split(".")[1:] or [action]
    return " ".join(parts).replace("_", " ").capitalize()
