"""Scans over REST: `.../experiments/{E}/scans[/{ID}]` (xnat-rest-api.md §4.4, §6) and downloads by
scan selection, `.../scans/{1|1,2|ALL|T1w}/files[/{path}]` (§7: a listing, a zip in XNAT's layout, one
file)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from archive.models import File
from archive.services.resources import delete_file
from archive.services.scans import create_scan, delete_scan, update_scan
from xnatapi import documents as docs
from xnatapi import fields, lookups, render
from xnatapi.http import Endpoint, created, params, text
from xnatlite import permissions
from xnatlite.errors import InvalidInput, NotFound


class FilesAcrossResources(Endpoint):
    """Files listed across resources: uploads go into one resource, so PUT and POST are refused."""

    def put(self, request: HttpRequest, **names: str) -> HttpResponse:
        raise InvalidInput("Files are uploaded into a resource: .../resources/{label}/files/{name}")

    post = put


class ScanList(Endpoint):
    """A session's scans, in scan order (the number an ID starts with, then the ID)."""

    def get(self, request: HttpRequest, experiment: str, **parents: str) -> HttpResponse:
        session = lookups.get_session(request.user, experiment, **parents)
        rows = docs.scan_rows(session.scans.order_by("sort_key", "scan_id"), session)
        return render.listing(
            request, rows, columns=docs.SCAN_COLUMNS, extra=docs.SCAN_EXTRA, title="scans", always=docs.ALWAYS
        )


class ScanDetail(Endpoint):
    """One scan by ID; PUT creates it (xnatpy sends the type as the ID) or sets its fields."""

    def get(self, request: HttpRequest, experiment: str, scan: str, **parents: str) -> HttpResponse:
        session = lookups.get_session(request.user, experiment, **parents)
        found = lookups.get_scan(request.user, session, scan)
        return render.item_response(request, found.xsi_type, docs.scan_fields(found))

    def put(self, request: HttpRequest, experiment: str, scan: str, **parents: str) -> HttpResponse:
        values = params(request)
        session = lookups.get_session(request.user, experiment, **parents)
        changes, _ = fields.field_values(values, fields.SCAN_FIELDS)
        try:
            found = lookups.get_scan(request.user, session, scan)
        except NotFound:
            xsi_type = fields.xsi_type(values, "xnat:mrScanData")
            found = create_scan(session, scan, by=request.user, xsi_type=xsi_type)
            new = True
        else:
            new = False
        if changes:
            update_scan(found, by=request.user, **changes)
        return created(found.scan_id, new)

    post = put

    def delete(self, request: HttpRequest, experiment: str, scan: str, **parents: str) -> HttpResponse:
        session = lookups.get_session(request.user, experiment, **parents)
        delete_scan(lookups.get_scan(request.user, session, scan), by=request.user)
        return text("")


class ScanFiles(FilesAcrossResources):
    """The files of the chosen scans as a listing or (`format=zip`) a zip named after the session."""

    def get(self, request: HttpRequest, experiment: str, scan: str, **parents: str) -> HttpResponse:
        session = lookups.get_session(request.user, experiment, **parents)
        files = lookups.files_of_scans(lookups.select_scans(session, scan))
        return render.files_response(request, files, session.label)


class ScanFile(FilesAcrossResources):
    """One file of the chosen scans, by its path in its resource."""

    def get(
        self, request: HttpRequest, experiment: str, scan: str, path: str, **parents: str
    ) -> HttpResponse:
        file = _file(request, experiment, scan, path, parents)
        permissions.require(request.user, "download", file)
        return render.file_response(request, file)

    def delete(
        self, request: HttpRequest, experiment: str, scan: str, path: str, **parents: str
    ) -> HttpResponse:
        delete_file(_file(request, experiment, scan, path, parents), by=request.user)
        return text("")


def _file(request: HttpRequest, experiment: str, scan: str, path: str, parents: dict[str, str]) -> File:
    session = lookups.get_session(request.user, experiment, **parents)
    files = lookups.files_of_scans(lookups.select_scans(session, scan))
    return lookups.get_file(request.user, files, path)
