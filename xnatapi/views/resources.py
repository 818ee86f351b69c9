"""Resources and files over REST, on a project, subject, experiment or scan (xnat-rest-api.md §4.5-4.6,
§7, §8.2): `{owner}/resources[/{label|ID}]`, `.../resources/{R}/files[/{path}]` (a listing, a zip, one
file; PUT (xnatpy) or POST (pyxnat, `inbody=true`) uploads, `extract=true` unpacks a zip or tar.gz) and
`{owner}/files[/{path}]`, the files of all the owner's resources."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from archive.models import File, Resource
from archive.services.resources import create_resource, delete_file, delete_resource, store_file
from xnatapi import documents as docs
from xnatapi import lookups, render
from xnatapi.http import Endpoint, created, flag, params, text
from xnatapi.views.scans import FilesAcrossResources
from xnatlite import permissions
from xnatlite.errors import InvalidInput, NotFound


class ResourceList(Endpoint):
    """An owner's resources, with their file counts and sizes."""

    def get(self, request: HttpRequest, **owner: str) -> HttpResponse:
        found = lookups.get_owner_data(request.user, **owner)
        rows = docs.resource_rows(Resource.objects.filter(**{Resource.owner_field(found): found}))
        return render.listing(request, rows, columns=docs.RESOURCE_COLUMNS, title="resources", fixed=True)


class ResourceDetail(Endpoint):
    """One resource; PUT creates it (201 and its numeric ID), DELETE removes it and its files."""

    def get(self, request: HttpRequest, resource: str, **owner: str) -> HttpResponse:
        found = lookups.get_resource(request.user, lookups.get_owner(request.user, **owner), resource)
        return render.item_response(request, "xnat:resourceCatalog", docs.resource_fields(found))

    def put(self, request: HttpRequest, resource: str, **owner: str) -> HttpResponse:
        parent = lookups.get_owner(request.user, **owner)
        try:
            found = lookups.get_resource(request.user, parent, resource)
        except NotFound:  # missing, or hidden from this user: create it (the service decides who may)
            values = params(request)
            new = create_resource(
                parent,
                resource,
                by=request.user,
                format=values.get("format", ""),
                content=values.get("content", ""),
                tags=values.get("tags", ""),
                description=values.get("description", ""),
            )
            return created(str(new.pk), True)
        permissions.require(request.user, "edit", found)
        return created(str(found.pk), False)

    post = put

    def delete(self, request: HttpRequest, resource: str, **owner: str) -> HttpResponse:
        found = lookups.get_resource(request.user, lookups.get_owner(request.user, **owner), resource)
        delete_resource(found, by=request.user)
        return text("")


class ResourceFiles(Endpoint):
    """A resource's files as a listing or (`format=zip`) a zip named after the resource."""

    def get(self, request: HttpRequest, resource: str, **owner: str) -> HttpResponse:
        found = lookups.get_resource(request.user, lookups.get_owner(request.user, **owner), resource)
        return render.files_response(request, lookups.files_of(found), found.label)

    def put(self, request: HttpRequest, **names: str) -> HttpResponse:
        raise InvalidInput("Name the file: .../files/{name}")

    post = put


class ResourceFile(Endpoint):
    """One file of a resource: download it, upload it (PUT or POST) or delete it."""

    def get(self, request: HttpRequest, resource: str, path: str, **owner: str) -> HttpResponse:
        file = lookups.get_file(request.user, lookups.files_of(self._resource(resource, owner)), path)
        permissions.require(request.user, "download", file)
        return render.file_response(request, file)

    def put(self, request: HttpRequest, resource: str, path: str, **owner: str) -> HttpResponse:
        found = self._resource(resource, owner)
        values = request.GET
        stream: Any = request
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type.startswith("multipart/form-data") and not flag(values.get("inbody")):
            stream = next(iter(request.FILES.values()), None)
            if stream is None:
                raise InvalidInput("The multipart body holds no file")
        files = store_file(
            found,
            lookups.file_path(path),
            stream,
            by=request.user,
            overwrite=flag(values.get("overwrite")),
            extract=flag(values.get("extract")),
            format=values.get("format", ""),
            content=values.get("content", ""),
            tags=values.get("tags", ""),
        )
        return text("\n".join(f.name for f in files), 200)

    post = put

    def delete(self, request: HttpRequest, resource: str, path: str, **owner: str) -> HttpResponse:
        file = lookups.get_file(request.user, lookups.files_of(self._resource(resource, owner)), path)
        delete_file(file, by=request.user)
        return text("")

    def _resource(self, resource: str, owner: dict[str, str]) -> Resource:
        return lookups.get_resource(
            self.request.user, lookups.get_owner(self.request.user, **owner), resource
        )


class OwnerFiles(FilesAcrossResources):
    """The files of all an owner's resources, as a listing or a zip named after the owner."""

    def get(self, request: HttpRequest, **owner: str) -> HttpResponse:
        found = lookups.get_owner_data(request.user, **owner)
        name = getattr(found, "label", None) or str(found.pk)
        return render.files_response(request, lookups.files_of(found), name)


class OwnerFile(FilesAcrossResources):
    """One file of an owner's resources, by its path in its resource."""

    def get(self, request: HttpRequest, path: str, **owner: str) -> HttpResponse:
        file = self._file(path, owner)
        permissions.require(request.user, "download", file)
        return render.file_response(request, file)

    def delete(self, request: HttpRequest, path: str, **owner: str) -> HttpResponse:
        delete_file(self._file(path, owner), by=request.user)
        return text("")

    def _file(self, path: str, owner: dict[str, str]) -> File:
        user = self.request.user
        return lookups.get_file(user, lookups.files_of(lookups.get_owner(user, **owner)), path)
