"""What an archive URL names, found link by link: project -> subject -> experiment -> scan -> resource
-> file, and the collections the listings show.

Subjects and experiments are named by accession ID or, under a project or subject, by label;
resources by label or numeric ID; scans by ID, and in download paths also by a comma list, `ALL` or a
type (xnat-rest-api.md §1 rule 2). Every object found is checked through xnatlite/permissions.py: one
the user may not read is NotFound with the same message as a missing one, so a private project is
not found all the way down and a protected project's data is not found below the project.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from archive.models import File, ImageSession, Resource, Scan, Subject
from archive.services.resources import find_resource
from archive.services.subjects import find_subject
from xnatlite import permissions
from xnatlite.errors import NotFound
from xnatlite.models import Project, ProjectAlias

Owner = Project | Subject | ImageSession | Scan


def _readable(user, found: Any, missing: str) -> Any:
    """What was found, if the permissions let the user read it; NotFound(missing) otherwise."""
    if found is None:
        raise NotFound(missing)
    try:
        permissions.require(user, "read", found)
    except NotFound:
        raise NotFound(missing) from None
    return found


# --- projects -------------------------------------------------------------------------------------
def project_exists(ident: str) -> bool:
    """Is there a project with this ID or alias (seen or not)? PUT creates one only if not."""
    return Project.objects.filter(pk=ident).exists() or ProjectAlias.objects.filter(alias=ident).exists()


def get_project(user, ident: str) -> Project:
    """A project by ID or alias that the user may see (protected ones too)."""
    return permissions.get_project(user, ident, "see")


def get_project_data(user, ident: str) -> Project:
    """A project whose contents the user lists: Forbidden if they may only see it (protected)."""
    project = get_project(user, ident)
    permissions.require(user, "read", project)
    return project


# --- subjects and experiments ---------------------------------------------------------------------
def get_subject(user, ident: str, project: str | None = None) -> Subject:
    """A subject by label or accession ID in its project, or by accession ID alone."""
    if project is None:
        found = Subject.objects.filter(accession_id=ident).select_related("project").first()
        return _readable(user, found, f"Subject '{ident}' not found")
    owner = get_project(user, project)
    found = find_subject(owner, ident)
    if found is not None:
        found.project = owner
    return _readable(user, found, f"'{ident}' not found")


def get_session(user, ident: str, project: str | None = None, subject: str | None = None) -> ImageSession:
    """An experiment by label or accession ID under its subject or project, or by accession ID alone."""
    if subject is not None:
        sessions = ImageSession.objects.filter(subject=get_subject(user, subject, project))
    elif project is not None:
        sessions = ImageSession.objects.filter(project=get_project(user, project))
    else:
        found = ImageSession.objects.filter(accession_id=ident).select_related("project", "subject").first()
        return _readable(user, found, f"Experiment '{ident}' not found")
    sessions = sessions.select_related("subject", "project")
    found = sessions.filter(label__iexact=ident).first() or sessions.filter(accession_id=ident).first()
    return _readable(user, found, f"'{ident}' not found")


def subjects_of(user, project: str | None = None) -> QuerySet[Subject]:
    """A project's subjects, or every subject the user may read."""
    if project is None:
        return Subject.objects.filter(project__in=permissions.projects_for(user, "read"))
    return Subject.objects.filter(project=get_project_data(user, project))


def sessions_of(user, project: str | None = None, subject: str | None = None) -> QuerySet[ImageSession]:
    """A subject's or a project's experiments, or every one the user may read."""
    if subject is not None:
        return ImageSession.objects.filter(subject=get_subject(user, subject, project))
    if project is not None:
        return ImageSession.objects.filter(project=get_project_data(user, project))
    return ImageSession.objects.filter(project__in=permissions.projects_for(user, "read"))


# --- scans ----------------------------------------------------------------------------------------
def get_scan(user, session: ImageSession, ident: str) -> Scan:
    """One scan of a session, by its ID."""
    found = session.scans.filter(scan_id=ident).first()
    if found is not None:
        found.session = session
    return _readable(user, found, f"'{ident}' not found")


def select_scans(session: ImageSession, selection: str) -> list[Scan]:
    """The scans a download path names (the session was found readable): one ID, `ALL`, or a comma
    list of IDs and types (`1,2`, `T1w`); NotFound if it names none."""
    scans = list(session.scans.order_by("sort_key", "scan_id"))
    if any(scan.scan_id == selection for scan in scans):
        return [scan for scan in scans if scan.scan_id == selection]
    if selection.upper() == "ALL":
        return scans
    wanted = [part.strip() for part in selection.split(",") if part.strip()]
    chosen = [scan for scan in scans if scan.scan_id in wanted or (scan.type and scan.type in wanted)]
    if not chosen:
        raise NotFound(f"'{selection}' not found")
    return chosen


# --- what resources and files hang from -----------------------------------------------------------
def get_owner(
    user,
    project: str | None = None,
    subject: str | None = None,
    experiment: str | None = None,
    scan: str | None = None,
) -> Owner:
    """The object a `.../resources` or `.../files` URL hangs from: the last one it names."""
    if experiment is not None:
        session = get_session(user, experiment, project, subject)
        return get_scan(user, session, scan) if scan is not None else session
    if subject is not None:
        return get_subject(user, subject, project)
    if project is None:
        raise TypeError("A resource URL names its owner")
    return get_project(user, project)


def get_owner_data(user, **names: str) -> Owner:
    """The owner whose resources or files the user lists: Forbidden on a protected project."""
    owner = get_owner(user, **names)
    permissions.require(user, "read", owner)
    return owner


def get_resource(user, owner: Owner, ident: str) -> Resource:
    """A resource of this owner, by label or numeric ID."""
    try:
        found = find_resource(owner, ident)
    except NotFound:
        found = None
    if found is not None:
        setattr(found, Resource.owner_field(owner), owner)
    return _readable(user, found, f"'{ident}' not found")


def files_of(owner: Owner | Resource) -> QuerySet[File]:
    """The files of a resource, or of every resource of an owner (a session's: its scans' too)."""
    if isinstance(owner, Resource):
        return File.objects.filter(resource=owner)
    if isinstance(owner, ImageSession):
        return File.objects.filter(Q(resource__scan__session=owner) | Q(resource__session=owner))
    return File.objects.filter(**{f"resource__{Resource.owner_field(owner)}": owner})


def files_of_scans(scans: list[Scan]) -> QuerySet[File]:
    return File.objects.filter(resource__scan__in=[scan.pk for scan in scans])


def file_path(path: str) -> str:
    """A file's path in its resource as a URL gives it after `files/` (`notes//hello.txt/` is
    `notes/hello.txt`)."""
    return "/".join(part for part in path.split("/") if part)


def get_file(user, files: QuerySet[File], path: str) -> File:
    """One file among these by its path in its resource (`notes/hello.txt`)."""
    name = file_path(path)
    return _readable(user, files.filter(name=name).first(), f"File '{name}' not found")
