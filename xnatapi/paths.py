"""Walking an archive path (`projects/P/subjects/S/experiments/E/scans/1/resources/DICOM/files/a.dcm`).

Subjects and experiments may be named by accession ID or, under a project, by label; resources by label
or numeric ID; scans by ID, or in download paths by a comma list, `ALL` or a type (xnat-rest-api.md
§1 rule 2). Each object found is checked for read access through xnatlite/permissions.py, and one
the user may not read is missing, so a private project is NotFound all the way down and a protected
project's data is NotFound below the project (its listings are Forbidden). A missing last segment
is reported (not raised) so PUT can create it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from archive import content, services
from archive.models import ImageSession, Scan, Subject
from xnatlite import permissions
from xnatlite.errors import NotFound
from xnatlite.models import Project, ProjectAlias

CHILDREN = {
    "site": {"projects", "subjects", "experiments"},
    "project": {"subjects", "experiments", "resources", "files"},
    "subject": {"experiments", "resources", "files"},
    "session": {"scans", "resources", "files"},
    "scan": {"resources", "files"},
    "scans": {"files"},
    "resource": {"files"},
}


@dataclass
class Node:
    kind: str  # site, project, subject, session, scan, scans, resource
    obj: Any = None
    parent: Node | None = None

    def find(self, kind: str) -> Any:
        """The nearest object of this kind on the path (e.g. the session above a scan)."""
        node: Node | None = self
        while node is not None:
            if node.kind == kind:
                return node.obj
            node = node.parent
        return None


@dataclass
class Target:
    node: Node
    collection: str | None = None  # the path ends with a collection name: a listing
    missing: str | None = None  # the path names an object that does not exist (yet)
    file_path: str | None = None  # after `files/`
    extras: dict = field(default_factory=dict)


def _project(user, ident: str) -> Project | None:
    """A project by ID or alias the user may see; None if none exists (PUT may create it)."""
    exists = Project.objects.filter(pk=ident).exists() or ProjectAlias.objects.filter(alias=ident).exists()
    if not exists:
        return None
    return permissions.get_project(user, ident, "see")


def _readable(user, kind: str, found: Any) -> Node | None:
    """A node for what was found, or None (as if missing) when the permissions hide it: a protected
    project's data is NotFound to those who may only see the project."""
    if found is None:
        return None
    try:
        permissions.require(user, "read", found)
    except NotFound:
        return None
    return Node(kind, found)


def _scan_selection(session: ImageSession, ident: str) -> Node | None:
    scans = list(session.scans.order_by("sort_key", "scan_id"))
    by_id = {s.scan_id: s for s in scans}
    if ident in by_id:
        return Node("scan", by_id[ident])
    wanted = [part.strip() for part in ident.split(",") if part.strip()]
    if ident.upper() == "ALL":
        return Node("scans", scans)
    chosen = [s for s in scans if s.scan_id in wanted or (s.type and s.type in wanted)]
    if chosen:
        return Node("scans", chosen)
    return None


def _child(user, node: Node, collection: str, ident: str) -> Node | None:
    obj = node.obj
    if node.kind == "site":
        if collection == "projects":
            project = _project(user, ident)
            return Node("project", project) if project else None
        model = Subject if collection == "subjects" else ImageSession
        found = model.objects.filter(accession_id=ident).select_related("project").first()
        child = _readable(user, "subject" if model is Subject else "session", found)
        if child is None:
            raise NotFound(f"{collection[:-1].capitalize()} '{ident}' not found")
        return child
    if collection == "resources":
        try:
            return _readable(user, "resource", content.find_resource(obj, ident))
        except NotFound:
            return None
    if node.kind == "project" and collection == "subjects":
        return _readable(user, "subject", services.find_subject(obj, ident))
    if node.kind in ("project", "subject") and collection == "experiments":
        sessions = ImageSession.objects.filter(**{node.kind: obj}).select_related("subject", "project")
        session = (
            sessions.filter(label__iexact=ident).first() or sessions.filter(Q(accession_id=ident)).first()
        )
        return _readable(user, "session", session)
    if node.kind == "session" and collection == "scans":
        return _scan_selection(obj, ident)
    raise NotFound(f"No {collection} under a {node.kind}")


def walk(user, path: str) -> Target:
    """Resolve a path below `/data/` into the objects it names."""
    segments = [s for s in path.strip("/").split("/") if s != ""]
    node = Node("site")
    i = 0
    while i < len(segments):
        collection = segments[i]
        if collection not in CHILDREN[node.kind]:
            raise NotFound(f"Unknown path element '{collection}'")
        if collection == "files":
            if node.kind not in ("site",):
                permissions.require(user, "read", node.obj if node.kind != "scans" else node.find("session"))
            rest = "/".join(segments[i + 1 :]) or None
            return Target(node, collection="files", file_path=rest)
        if i + 1 == len(segments):
            if node.kind != "site":
                permissions.require(user, "read", node.obj)
            return Target(node, collection=collection)
        ident = segments[i + 1]
        child = _child(user, node, collection, ident)
        if child is None:
            if i + 2 == len(segments):
                return Target(node, collection=collection, missing=ident)
            raise NotFound(f"'{ident}' not found")
        child.parent = node
        node = child
        i += 2
    return Target(node)


def scans_of(node: Node) -> list[Scan]:
    if node.kind == "scan":
        return [node.obj]
    if node.kind == "scans":
        return list(node.obj)
    return []
