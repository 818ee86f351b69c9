"""The archive tree: `/data/[archive/]projects/...`, `/data/subjects/...`, `/data/experiments/...`.

One entry point walks the path (xnatapi/paths.py) and answers by method: GET lists or describes,
downloads files and zips; PUT/POST creates, sets fields (query string, xnat-rest-api.md §6) or uploads
files (§8.2); DELETE removes. Reads use xnatlite/permissions.py through the walk; writes go through
archive/services/ and xnatlite/projects.py, which check permissions themselves.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

from archive import downloads
from archive.models import File, ImageSession, Resource, Subject
from archive.services.fields import SCAN_EDITABLE, SESSION_EDITABLE
from archive.services.resources import create_resource, delete_file, delete_resource, store_file
from archive.services.scans import create_scan, delete_scan, update_scan
from archive.services.sessions import create_session, delete_session, relabel_session, update_session
from archive.services.subjects import create_subject, delete_subject, relabel_subject, update_subject
from xnatapi import documents as docs
from xnatapi import render
from xnatapi import services as api_services
from xnatapi.http import api_view, flag, method_not_allowed, params, text
from xnatapi.paths import Node, Target, scans_of, walk
from xnatlite import permissions, projects
from xnatlite.errors import InvalidInput, NotFound

# Parameters that steer a request rather than set a field (§6).
CONTROL = {
    "xsiType",
    "xsitype",
    "req_format",
    "format",
    "content",
    "tags",
    "event_reason",
    "event_type",
    "event_action",
    "event_id",
    "allowDataDeletion",
    "activate",
    "quarantine",
    "inbody",
    "overwrite",
    "extract",
    "removeFiles",
    "columns",
    "description",
    "name",
    "_",
}
# Field paths clients send -> our field names (xpath tails and XNAT's shortcut names).
SUBJECT_FIELDS = {
    "group": "group",
    "src": "src",
    "note": "note",
    "gender": "gender",
    "handedness": "handedness",
}
SUBJECT_FIELDS |= {"yob": "yob"}
SESSION_FIELDS = {name: name for name in SESSION_EDITABLE}
SCAN_FIELDS = {name: name for name in SCAN_EDITABLE}
DEMOGRAPHICS_RE = re.compile(r"demographics(\[[^\]]*\])?/")
CUSTOM_RE = re.compile(r"fields/field\[name=([^\]]+)\]/field")
# Objects with a label: their settable fields, the service that sets them, the one that relabels.
LABELLED = {
    "subject": (SUBJECT_FIELDS, update_subject, relabel_subject),
    "session": (SESSION_FIELDS, update_session, relabel_session),
}


@api_view
def tree(request: HttpRequest, path: str) -> HttpResponse:
    target = walk(request.user, path)
    method = request.method
    if method in ("GET", "HEAD"):
        return _get(request, target)
    if method in ("PUT", "POST"):
        return _put(request, target)
    if method == "DELETE":
        return _delete(request, target)
    return method_not_allowed(request)


# --- reading --------------------------------------------------------------------------------------
def _get(request: HttpRequest, target: Target) -> HttpResponse:
    node = target.node
    if target.missing is not None:
        raise NotFound(f"'{target.missing}' not found")
    if target.collection == "files":
        if target.file_path:
            return _file_download(request, node, target.file_path)
        files = _files_of(node)
        if render.output_format(request) == "zip":
            return _zip_response(downloads.file_entries(_zip_order(files)), _zip_name(node))
        return render.listing(
            request, docs.file_rows(files), columns=docs.FILE_COLUMNS, title="files", fixed=True
        )
    if target.collection is not None:
        return _listing(request, node, target.collection)
    return _document(request, node)


def _listing(request: HttpRequest, node: Node, collection: str) -> HttpResponse:
    user, obj = request.user, node.obj
    if collection == "projects":
        rows = docs.project_rows(permissions.projects_for(user, "see"))
        columns, extra = docs.PROJECT_COLUMNS, docs.PROJECT_EXTRA
    elif collection == "subjects":
        qs = Subject.objects.filter(project=obj) if node.kind == "project" else _readable(Subject, user)
        rows, columns, extra = docs.subject_rows(qs), docs.SUBJECT_COLUMNS, docs.SUBJECT_EXTRA
    elif collection == "experiments":
        if node.kind == "site":
            qs = _readable(ImageSession, user)
        else:
            qs = ImageSession.objects.filter(**{node.kind: obj})
        rows, columns, extra = docs.experiment_rows(qs), docs.EXPERIMENT_COLUMNS, docs.EXPERIMENT_EXTRA
    elif collection == "scans":
        scans = obj.scans.order_by("sort_key", "scan_id")
        rows, columns, extra = docs.scan_rows(scans, obj), docs.SCAN_COLUMNS, docs.SCAN_EXTRA
    elif collection == "resources":
        rows = docs.resource_rows(Resource.objects.filter(**{_owner_kind(node): obj}))
        return render.listing(request, rows, columns=docs.RESOURCE_COLUMNS, title="resources", fixed=True)
    else:
        raise NotFound(f"No listing '{collection}'")
    return render.listing(request, rows, columns=columns, extra=extra, title=collection, always=docs.ALWAYS)


def _readable(model, user) -> QuerySet:
    return model.objects.filter(project__in=permissions.projects_for(user, "read"))


def _owner_kind(node: Node) -> str:
    return {"project": "project", "subject": "subject", "session": "session", "scan": "scan"}[node.kind]


def _document(request: HttpRequest, node: Node) -> HttpResponse:
    obj = node.obj
    if node.kind == "project":
        return render.item_response(request, "xnat:projectData", docs.project_fields(obj))
    if node.kind == "subject":
        children = docs.subject_children(obj) + docs.custom_children(api_services.custom_variables(obj))
        return render.item_response(request, "xnat:subjectData", docs.subject_fields(obj), children)
    if node.kind == "session":
        children = docs.custom_children(api_services.custom_variables(obj))
        return render.item_response(request, obj.xsi_type, docs.session_fields(obj), children)
    if node.kind == "scan":
        return render.item_response(request, obj.xsi_type, docs.scan_fields(obj))
    if node.kind == "resource":
        return render.item_response(request, "xnat:resourceCatalog", docs.resource_fields(obj))
    raise NotFound("Not found")


def _files_of(node: Node) -> QuerySet[File]:
    obj = node.obj
    if node.kind == "resource":
        return File.objects.filter(resource=obj)
    if node.kind in ("scan", "scans"):
        return File.objects.filter(resource__scan__in=[s.pk for s in scans_of(node)])
    if node.kind == "session":
        return File.objects.filter(Q(resource__scan__session=obj) | Q(resource__session=obj))
    if node.kind == "subject":
        return File.objects.filter(resource__subject=obj)
    if node.kind == "project":
        return File.objects.filter(resource__project=obj)
    raise NotFound("No files here")


def _zip_order(files: QuerySet[File]):
    qs = files.select_related("resource__scan__session", "resource__session")
    return qs.order_by(
        "resource__scan__sort_key", "resource__scan__scan_id", "resource__label", "name"
    ).iterator(chunk_size=2000)


def _zip_name(node: Node) -> str:
    obj = node.obj
    if node.kind in ("scan", "scans"):
        return node.find("session").label
    return getattr(obj, "label", None) or str(getattr(obj, "pk", "download"))


def _zip_response(entries, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(downloads.stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response


def _find_file(node: Node, name: str) -> File:
    if node.kind == "resource":
        qs = File.objects.filter(resource=node.obj, name=name)
    elif node.kind in ("scan", "scans"):
        qs = File.objects.filter(resource__scan__in=[s.pk for s in scans_of(node)], name=name)
    else:
        qs = _files_of(node).filter(name=name)
    file = qs.first()
    if file is None:
        raise NotFound(f"File '{name}' not found")
    return file


def _file_download(request: HttpRequest, node: Node, name: str) -> HttpResponse:
    file = _find_file(node, name)
    permissions.require(request.user, "download", file)
    path = file.absolute_path
    if not path.exists():
        raise NotFound(f"File '{name}' is missing on disk")
    if request.method == "HEAD":
        response = HttpResponse(content_type="application/octet-stream")
        response["Content-Length"] = str(path.stat().st_size)
        return response
    # FileResponse streams the open file and closes it when the response is done.
    response = FileResponse(open(path, "rb"), content_type="application/octet-stream")  # noqa: SIM115
    response["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


# --- writing --------------------------------------------------------------------------------------
def _field_values(
    values: dict[str, str], mapping: dict[str, str], custom: dict[str, str] | None = None
) -> tuple[dict[str, Any], str | None]:
    """(fields for the update services of archive/services/, new label) from query parameters; `NULL` clears a field.
    Custom variables (`fields/field[name=visit]/field`) go into `custom` when given."""
    fields: dict[str, Any] = {}
    label = None
    for key, value in values.items():
        if key in CONTROL:
            continue
        path = key.split("/", 1)[1] if key.startswith("xnat:") and "/" in key else key
        path = DEMOGRAPHICS_RE.sub("", path)
        variable = CUSTOM_RE.fullmatch(path)
        if variable and custom is not None:
            custom[variable.group(1)] = value
            continue
        if path in ("label", "ID"):
            if path == "label":
                label = value
            continue
        if path not in mapping:
            raise InvalidInput(
                f"Field '{key}' cannot be set here; known: {', '.join(sorted(mapping))}, label"
            )
        fields[mapping[path]] = "" if value == "NULL" else value
    return fields, label


def _xsi_type(values: dict[str, str], default: str) -> str:
    return values.get("xsiType") or values.get("xsitype") or default


def _created(obj_id: str, created: bool) -> HttpResponse:
    return text(obj_id, 201 if created else 200)


def _put(request: HttpRequest, target: Target) -> HttpResponse:
    user, node = request.user, target.node
    if target.collection == "files":
        return _upload(request, target)
    values = params(request)
    if target.missing is not None:
        return _create(request, target, values)
    if target.collection is not None:
        return method_not_allowed(request)
    obj = node.obj
    if node.kind in LABELLED:
        mapping, update, relabel = LABELLED[node.kind]
        custom: dict[str, str] = {}
        fields, label = _field_values(values, mapping, custom)
        if fields:
            update(obj, by=user, **fields)
        if custom:
            api_services.set_custom_variables(obj, custom, by=user)
        if label and label != obj.label:
            relabel(obj, label, by=user)
        return _created(obj.accession_id, False)
    if node.kind == "scan":
        fields, _ = _field_values(values, SCAN_FIELDS)
        if fields:
            update_scan(obj, by=user, **fields)
        return _created(obj.scan_id, False)
    if node.kind == "project":
        fields = {k: v for k, v in values.items() if k in ("name", "description", "keywords")}
        if fields:
            projects.update_project(obj, by=user, **fields)
        return _created(obj.id, False)
    if node.kind == "resource":
        permissions.require(user, "edit", obj)
        return _created(str(obj.pk), False)
    return method_not_allowed(request)


def _create(request: HttpRequest, target: Target, values: dict[str, str]) -> HttpResponse:
    user, node, ident, collection = request.user, target.node, target.missing, target.collection
    if collection == "projects":
        project = projects.create_project(
            ident,
            by=user,
            name=values.get("name") or values.get("xnat:projectData/name") or ident,
            description=values.get("description") or values.get("xnat:projectData/description", ""),
        )
        return _created(project.id, True)
    if collection == "subjects" and node.kind == "project":
        custom: dict[str, str] = {}
        fields, label = _field_values(values, SUBJECT_FIELDS, custom)
        subject = create_subject(node.obj, label or ident, by=user)
        if fields:
            update_subject(subject, by=user, **fields)
        if custom:
            api_services.set_custom_variables(subject, custom, by=user)
        return _created(subject.accession_id, True)
    if collection == "experiments":
        if node.kind != "subject":
            raise InvalidInput(
                "Create an experiment under its subject: .../subjects/{subject}/experiments/{label}"
            )
        custom = {}
        fields, label = _field_values(values, SESSION_FIELDS, custom)
        session = create_session(
            node.obj, label or ident, by=user, xsi_type=_xsi_type(values, "xnat:mrSessionData")
        )
        if fields:
            update_session(session, by=user, **fields)
        if custom:
            api_services.set_custom_variables(session, custom, by=user)
        return _created(session.accession_id, True)
    if collection == "scans" and node.kind == "session":
        fields, _ = _field_values(values, SCAN_FIELDS)
        scan = create_scan(node.obj, ident, by=user, xsi_type=_xsi_type(values, "xnat:mrScanData"))
        if fields:
            update_scan(scan, by=user, **fields)
        return _created(scan.scan_id, True)
    if collection == "resources":
        resource = create_resource(
            node.obj,
            ident,
            by=user,
            format=values.get("format", ""),
            content=values.get("content", ""),
            tags=values.get("tags", ""),
            description=values.get("description", ""),
        )
        return _created(str(resource.pk), True)
    raise NotFound(f"'{ident}' not found")


def _upload(request: HttpRequest, target: Target) -> HttpResponse:
    """PUT (xnatpy, raw body) or POST (pyxnat, `inbody=true`; or multipart) a file into a resource."""
    node, name = target.node, target.file_path
    values = {key: request.GET.get(key, "") for key in request.GET}
    if node.kind != "resource":
        raise InvalidInput("Files are uploaded into a resource: .../resources/{label}/files/{name}")
    if not name:
        raise InvalidInput("Name the file: .../files/{name}")
    stream: Any = request
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/form-data") and not flag(values.get("inbody")):
        uploaded = next(iter(request.FILES.values()), None)
        if uploaded is None:
            raise InvalidInput("The multipart body holds no file")
        stream = uploaded
    files = store_file(
        node.obj,
        name,
        stream,
        by=request.user,
        overwrite=flag(values.get("overwrite")),
        extract=flag(values.get("extract")),
        format=values.get("format", ""),
        content=values.get("content", ""),
        tags=values.get("tags", ""),
    )
    return text("\n".join(f.name for f in files), 200)


def _delete(request: HttpRequest, target: Target) -> HttpResponse:
    user, node = request.user, target.node
    if target.missing is not None:
        raise NotFound(f"'{target.missing}' not found")
    if target.collection == "files" and target.file_path:
        delete_file(_find_file(node, target.file_path), by=user)
        return text("")
    if target.collection is not None:
        return method_not_allowed(request)
    deleters = {
        "subject": delete_subject,
        "session": delete_session,
        "scan": delete_scan,
        "resource": delete_resource,
    }
    if node.kind not in deleters:
        if node.kind == "project":
            permissions.require(user, "manage", node.obj)
            raise InvalidInput("Projects are deleted by a site administrator, not through the API")
        return method_not_allowed(request)
    deleters[node.kind](node.obj, by=user)
    return text("")
