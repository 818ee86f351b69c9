"""The DICOMweb edge (PS3.18): QIDO-RS, WADO-RS and STOW-RS at `/dicomweb/` and, limited to one project,
at `/dicomweb/projects/{project}/`. Sign-in, CSRF and errors as the REST API (xnatapi/auth.py,
xnatapi/http.py): 401 unless signed in, a 404 that says nothing of what was hidden or missing; CORS only
for the origins XNATLITE_DICOMWEB_CORS_ORIGINS names.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

import numpy as np
import pydicom
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from PIL import Image
from pydicom.errors import InvalidDicomError

from dicomweb import queries, stow
from dicomweb.dicomjson import INSTANCE, SERIES, STUDY
from dicomweb.multipart import BodyTooLarge, media_type_parameters, new_boundary, stream_bytes, stream_parts
from xnatapi.auth import unauthorized
from xnatapi.http import CSRF_REFUSED, csrf_refused
from xnatlite import layout, permissions
from xnatlite.errors import Forbidden, InvalidInput, NotFound, XnatliteError
from xnatlite.models import Project

log = logging.getLogger("xnatlite.dicomweb")

DICOM_JSON = "application/dicom+json"
TEXT = "text/plain; charset=utf-8"
BULK_THRESHOLD = 1024  # bytes of a binary value given inline; larger ones by BulkDataURI
NOT_FOUND = "Not Found"


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body, status=status, content_type=TEXT)


class NotAcceptable(InvalidInput):
    """The Accept header asks for nothing we can send (406)."""


class UnsupportedMediaType(InvalidInput):
    """A request body of a type we do not take (415)."""


def _cors(request: HttpRequest, response: HttpResponse) -> HttpResponseBase:
    origin = request.META.get("HTTP_ORIGIN")
    if origin and origin in settings.DICOMWEB_CORS_ORIGINS:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Credentials"] = "true"
        response["Access-Control-Allow-Headers"] = "Authorization, Accept, Content-Type"
        response["Access-Control-Allow-Methods"] = "GET, HEAD, POST, OPTIONS"
        response["Access-Control-Expose-Headers"] = "Content-Type, Warning"
        response["Vary"] = "Origin"
    return response


def dicomweb_view(methods: tuple[str, ...]) -> Callable:
    """Wrap a DICOMweb view: CORS, 405 for other methods, the CSRF check, 401 unless signed in, the
    project of a per-project root (hidden = missing), and errors to statuses with a plain-text reason."""

    def decorate(func: Callable) -> Callable:
        @csrf_exempt
        @wraps(func)
        def wrapper(
            request: HttpRequest, *args: Any, project: str | None = None, **kwargs: Any
        ) -> HttpResponseBase:
            if request.method == "OPTIONS":
                return _cors(request, HttpResponse(status=204))
            if request.method not in methods and not (request.method == "HEAD" and "GET" in methods):
                response = _text(f"Method {request.method} is not allowed here", 405)
                response["Allow"] = ", ".join(methods)
                return _cors(request, response)
            if csrf_refused(request):
                return _cors(request, _text(CSRF_REFUSED, 403))
            if not request.user.is_authenticated:
                return _cors(request, unauthorized())
            try:
                action = "prearchive" if request.method == "POST" else "read"
                kwargs["project"] = (
                    permissions.get_project(request.user, project, action) if project is not None else None
                )
                response = func(request, *args, **kwargs)
            except (NotFound, Http404):
                response = _text(NOT_FOUND, 404)
            except NotAcceptable as exc:
                response = _text(exc.message, 406)
            except UnsupportedMediaType as exc:
                response = _text(exc.message, 415)
            except BodyTooLarge as exc:
                response = _text(exc.message, 413)
            except Forbidden as exc:
                response = _text(exc.message, 403)
            except XnatliteError as exc:
                log.info("%s %s -> %s: %s", request.method, request.path, type(exc).__name__, exc)
                response = _text(exc.message, 400)
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                response = _text("Internal Server Error", 500)
            return _cors(request, response)

        return wrapper

    return decorate


def _root(request: HttpRequest, project: Project | None) -> str:
    """The absolute URL of the service root the request used, for Retrieve URLs and BulkDataURIs.

    dicomweb-client sends a Host header without the port; when the connection came straight to us
    (no proxy's X-Forwarded-* headers: nginx in deploy/ sends them), the port we were reached on is the one the client used."""
    host = request.get_host()
    port = request.META.get("SERVER_PORT", "")
    proxied = any(h in request.META for h in ("HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_FOR"))
    if ":" not in host.rsplit("]", 1)[-1] and port not in ("", "80", "443") and not proxied:
        host = f"{host}:{port}"
    below = "dicomweb/" + (f"projects/{project.pk}/" if project is not None else "")
    return f"{request.scheme}://{host}/{below}"


def _projects(request: HttpRequest, project: Project | None):
    return queries.readable_projects(request.user, project)


def _accepts(request: HttpRequest, *media: str) -> None:
    """NotAcceptable unless the Accept header allows one of the media types (none given: anything)."""
    header = request.META.get("HTTP_ACCEPT", "").strip()
    if not header:
        return
    for item in header.split(","):
        kind = item.split(";")[0].strip().lower()
        if kind in ("*/*", *media) or (kind.endswith("/*") and any(m.startswith(kind[:-1]) for m in media)):
            return
    raise NotAcceptable(f"Cannot answer with {header[:200]}; this resource is {' or '.join(media)}")


def _accepts_dicom_multipart(request: HttpRequest) -> None:
    """WADO-RS retrieval sends instances as stored: multipart/related; type="application/dicom", with
    any transfer syntax (`transfer-syntax=*` or none); transcoding is not supported yet."""
    header = request.META.get("HTTP_ACCEPT", "").strip()
    if not header:
        return
    reasons = []
    for item in header.split(","):
        media, params = media_type_parameters(item)
        if media in ("*/*", "multipart/*") or (
            media == "multipart/related"
            and params.get("type", "application/dicom").lower() == "application/dicom"
        ):
            syntax = params.get("transfer-syntax", "*")
            if syntax == "*":
                return
            reasons.append(f"transfer syntax {syntax[:64]}: instances are sent as stored (transfer-syntax=*)")
        else:
            reasons.append(f'{media[:64]}: instances are sent as multipart/related; type="application/dicom"')
    raise NotAcceptable("Not acceptable: " + "; ".join(reasons))


def _json(data: Any, warnings: list[str] | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(data), content_type=DICOM_JSON)
    for warning in warnings or []:
        response["Warning"] = warning
    return response


# --- QIDO-RS -----------------------------------------------------------------------------------------
def _search(request: HttpRequest, level: str, project: Project | None, **within: str) -> HttpResponseBase:
    _accepts(request, DICOM_JSON, "application/json")
    query = queries.parse_query(dict(request.GET.lists()), level)
    matches = queries.search(query, _projects(request, project), **within)
    root = _root(request, project)
    return _json([queries.answer(query, match, root) for match in matches], query.warnings)


@dicomweb_view(("GET", "POST"))
def studies(request: HttpRequest, project: Project | None) -> HttpResponseBase:
    if request.method == "POST":
        return _store(request, project)
    return _search(request, STUDY, project)


@dicomweb_view(("GET",))
def all_series(request: HttpRequest, project: Project | None) -> HttpResponseBase:
    return _search(request, SERIES, project)


@dicomweb_view(("GET",))
def study_series(request: HttpRequest, study: str, project: Project | None) -> HttpResponseBase:
    return _search(request, SERIES, project, study=study)


@dicomweb_view(("GET",))
def all_instances(request: HttpRequest, project: Project | None) -> HttpResponseBase:
    return _search(request, INSTANCE, project)


@dicomweb_view(("GET",))
def study_instances(request: HttpRequest, study: str, project: Project | None) -> HttpResponseBase:
    return _search(request, INSTANCE, project, study=study)


@dicomweb_view(("GET",))
def series_instances(
    request: HttpRequest, study: str, series: str, project: Project | None
) -> HttpResponseBase:
    return _search(request, INSTANCE, project, study=study, series=series)


# --- WADO-RS -----------------------------------------------------------------------------------------
@dicomweb_view(("GET",))
def retrieve(
    request: HttpRequest, study: str, project: Project | None, series: str = "", instance: str = ""
) -> HttpResponseBase:
    """A study, series or instance as multipart/related; type="application/dicom", file by file."""
    _accepts_dicom_multipart(request)
    files = queries.instance_files(_projects(request, project), study, series, instance)
    boundary = new_boundary()
    response = StreamingHttpResponse(
        stream_parts(queries.file_paths(files), boundary, "application/dicom"),
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
    )
    return response


def _metadata_of(path: Any, root: str, study: str, series: str, instance: str) -> dict[str, Any]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    base = f"{root}studies/{study}/series/{series}/instances/{instance}/bulkdata/"

    def bulk(elem: Any) -> str:
        return f"{base}{elem.tag:08X}"

    data = ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=bulk)
    if "Rows" in ds:  # an image: its pixel data (not read here) by URI
        vr = "OW" if int(ds.get("BitsAllocated", 16)) > 8 else "OB"
        data["7FE00010"] = {"vr": vr, "BulkDataURI": f"{base}7FE00010"}
    return data


@dicomweb_view(("GET",))
def metadata(
    request: HttpRequest, study: str, project: Project | None, series: str = "", instance: str = ""
) -> HttpResponseBase:
    """The headers of a study's, series' or instance's instances as a DICOM JSON array, streamed one
    instance at a time; bulk data (pixel data, large binary values) by BulkDataURI."""
    _accepts(request, DICOM_JSON, "application/json")
    files = queries.instance_files(_projects(request, project), study, series, instance)
    root = _root(request, project)
    rows = files.values_list(
        "path",
        "resource__scan__session__study_instance_uid",
        "resource__scan__series_instance_uid",
        "sop_instance_uid",
    )

    def body() -> Iterator[bytes]:
        yield b"["
        first = True
        for relative, study_uid, series_uid, sop_uid in rows.iterator(chunk_size=200):
            try:
                item = _metadata_of(layout.absolute_path(relative), root, study_uid, series_uid, sop_uid)
            except (OSError, InvalidDicomError, ValueError):
                continue
            yield (b"" if first else b",") + json.dumps(item).encode()
            first = False
        yield b"]"

    return StreamingHttpResponse(body(), content_type=DICOM_JSON)


def _instance_dataset(request: HttpRequest, project: Project | None, study: str, series: str, instance: str):
    files = queries.instance_files(_projects(request, project), study, series, instance)
    relative = files.values_list("path", flat=True).first()
    try:
        return pydicom.dcmread(layout.absolute_path(relative or ""))
    except (OSError, InvalidDicomError, ValueError):
        raise NotFound("Not found") from None


@dicomweb_view(("GET",))
def bulkdata(
    request: HttpRequest, study: str, series: str, instance: str, tag: str, project: Project | None
) -> HttpResponseBase:
    """One top-level binary value of an instance, as multipart/related; type="application/octet-stream"."""
    _accepts(request, "multipart/related", "application/octet-stream")
    try:
        number = int(tag, 16)
    except ValueError:
        raise NotFound("Not found") from None
    ds = _instance_dataset(request, project, study, series, instance)
    if number not in ds or not isinstance(ds[number].value, bytes):
        raise NotFound("Not found")
    boundary = new_boundary()
    return StreamingHttpResponse(
        stream_bytes([ds[number].value], boundary, "application/octet-stream"),
        content_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
    )


MAX_FRAMES = 1000  # frame numbers one request may ask for


@dicomweb_view(("GET",))
def frames(
    request: HttpRequest, study: str, series: str, instance: str, numbers: str, project: Project | None
) -> HttpResponseBase:
    """Frames of an instance (`1,3`, counted from 1) as multipart/related; type="application/octet-stream",
    for uncompressed pixel data (compressed frames are not sent yet: 406)."""
    _accepts(request, "multipart/related", "application/octet-stream")
    try:
        wanted = [int(n) for n in numbers.split(",")]
    except ValueError:
        raise InvalidInput("Frame numbers are whole numbers, comma-separated") from None
    if not wanted or len(wanted) > MAX_FRAMES or min(wanted) < 1:
        raise InvalidInput(f"Ask for 1 to {MAX_FRAMES} frames, counted from 1")
    ds = _instance_dataset(request, project, study, series, instance)
    if "PixelData" not in ds:
        raise NotFound("Not found")
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        raise NotAcceptable("Frames of compressed pixel data are not sent yet; retrieve the instance")
    size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8
    count = int(ds.get("NumberOfFrames", 1) or 1)
    if max(wanted) > count or size == 0:
        raise NotFound("Not found")
    data = ds.PixelData
    boundary = new_boundary()
    return StreamingHttpResponse(
        stream_bytes([data[(n - 1) * size : n * size] for n in wanted], boundary, "application/octet-stream"),
        content_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
    )


def _window(request: HttpRequest, ds: Any, pixels: np.ndarray) -> np.ndarray:
    """Pixels to 8 bits: the `window=centre,width,function` parameter, else the header's, else min-max."""
    given = request.GET.get("window", "")
    try:
        if given:
            centre, width = (float(v) for v in given.split(",")[:2])
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            c, w = ds.WindowCenter, ds.WindowWidth
            centre = float(c[0] if isinstance(c, pydicom.multival.MultiValue) else c)
            width = float(w[0] if isinstance(w, pydicom.multival.MultiValue) else w)
        else:
            low, high = float(pixels.min()), float(pixels.max())
            centre, width = (low + high) / 2, max(high - low, 1.0)
    except ValueError:
        raise InvalidInput("window must be centre,width (numbers)") from None
    width = max(width, 1.0)
    scaled = (pixels.astype(np.float64) - (centre - width / 2)) / width * 255.0
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _render(request: HttpRequest, ds: Any, *, size: int | None) -> HttpResponseBase:
    accept = request.META.get("HTTP_ACCEPT", "")
    kind = "png" if "image/png" in accept and "image/jpeg" not in accept else "jpeg"
    if accept and not any(t in accept for t in ("image/jpeg", "image/png", "image/*", "*/*")):
        raise NotAcceptable("Rendered images are image/jpeg or image/png")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pixel data we cannot decode: a reason, not a crash
        raise NotAcceptable(f"This instance's pixel data cannot be rendered ({type(exc).__name__})") from None
    if pixels.ndim == 4 or (pixels.ndim == 3 and ds.get("SamplesPerPixel", 1) == 1):
        pixels = pixels[0]  # the first frame
    if ds.get("SamplesPerPixel", 1) == 1:
        image = Image.fromarray(_window(request, ds, pixels))
        if ds.get("PhotometricInterpretation") == "MONOCHROME1":
            image = Image.eval(image, lambda v: 255 - v)
    else:
        image = Image.fromarray(pixels.astype(np.uint8)).convert("RGB")
    if size:
        image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, format=kind.upper())
    return HttpResponse(out.getvalue(), content_type=f"image/{kind}")


@dicomweb_view(("GET",))
def rendered(
    request: HttpRequest, study: str, series: str, instance: str, project: Project | None
) -> HttpResponseBase:
    """The instance's first frame as JPEG or PNG (window=centre,width), its full size."""
    return _render(request, _instance_dataset(request, project, study, series, instance), size=None)


@dicomweb_view(("GET",))
def thumbnail(
    request: HttpRequest, study: str, series: str, instance: str, project: Project | None
) -> HttpResponseBase:
    """The instance's first frame as a small JPEG or PNG (at most 128 pixels a side)."""
    return _render(request, _instance_dataset(request, project, study, series, instance), size=128)


# --- STOW-RS -----------------------------------------------------------------------------------------
def _store(request: HttpRequest, project: Project | None) -> HttpResponse:
    _accepts(request, DICOM_JSON, "application/json")
    media, params = media_type_parameters(request.META.get("CONTENT_TYPE", ""))
    if media != "multipart/related":
        raise UnsupportedMediaType('Send instances as multipart/related; type="application/dicom"')
    if params.get("type", "application/dicom").lower() != "application/dicom":
        raise UnsupportedMediaType(
            f"Only application/dicom instances are stored, not {params.get('type', '')[:64]} (no JSON or XML metadata with bulk data yet)"
        )
    if not params.get("boundary"):
        raise InvalidInput("The Content-Type names no boundary")
    result = stow.store_instances(request, params["boundary"], by=request.user, project=project)
    answer: dict[str, Any] = {}
    if result.stored:
        answer["00081199"] = {
            "vr": "SQ",
            "Value": [
                {"00081150": {"vr": "UI", "Value": [c]}, "00081155": {"vr": "UI", "Value": [i]}}
                for c, i in result.stored
            ],
        }
    if result.failed:
        answer["00081198"] = {
            "vr": "SQ",
            "Value": [
                {
                    "00081150": {"vr": "UI", **({"Value": [c]} if c else {})},
                    "00081155": {"vr": "UI", **({"Value": [i]} if i else {})},
                    "00081197": {"vr": "US", "Value": [reason]},
                }
                for c, i, reason in result.failed
            ],
        }
    status = 200 if not result.failed else 202 if result.stored else 409
    response = _json(answer)
    response.status_code = status
    return response
