"""One renderer for every listing: XNAT's ResultSet as JSON, CSV (header always), XML or HTML.

Rows are dicts of strings; the same rows feed every format (xnat-rest-api.md §1 rules 3-6). Also the
single-object "items" documents xnatpy reads (§5.1), and files: one file, a listing of files or their
zip in XNAT's layout (§4.6, §7).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.html import escape as html_escape

from archive import downloads
from archive.models import File
from xnatapi import documents as docs
from xnatlite.errors import InvalidInput, NotFound

# Query parameters that steer a listing; any other parameter naming a column filters on it.
CONTROL_PARAMS = {"format", "columns", "sortBy", "sortOrder", "limit", "offset", "req_format", "_"}
LISTING_FORMATS = ("json", "csv", "xml", "html")


def output_format(request: HttpRequest, default: str = "json") -> str:
    value = (request.GET.get("format") or default).lower()
    return value


def choose_columns(request: HttpRequest, defaults: list[str], always: list[str]) -> list[str]:
    """The requested `columns` (plus the always-included ones), or the listing's defaults."""
    requested = [c.strip() for c in request.GET.get("columns", "").split(",") if c.strip()]
    if not requested:
        return list(defaults)
    columns = list(requested)
    for name in always:
        if name not in columns:
            columns.append(name)
    return columns


def column_value(row: dict[str, str], column: str) -> str:
    """A row's value for a column, also when asked by XNAT xpath (`xnat:subjectData/group`)."""
    if column in row:
        return row[column]
    tail = column.rsplit("/", 1)[-1]
    if tail in row:
        return row[tail]
    return row.get(tail.lower(), "")


def filter_rows(request: HttpRequest, rows: Iterable[dict[str, str]], available: set[str]):
    """XNAT's listing filters: `?label=MR*` (wildcards, case-insensitive) on any column."""
    filters = [
        (key, value.lower())
        for key, value in request.GET.items()
        if key not in CONTROL_PARAMS and key in available and value != ""
    ]
    if not filters:
        return rows
    return (
        row
        for row in rows
        if all(fnmatch.fnmatchcase(column_value(row, key).lower(), pattern) for key, pattern in filters)
    )


def listing(
    request: HttpRequest,
    rows: Iterable[dict[str, str]],
    *,
    columns: list[str],
    title: str,
    fixed: bool = False,
    always: tuple[str, ...] = (),
    extra: list[str] | tuple[str, ...] = (),
) -> HttpResponse:
    """Render rows in the requested format. `fixed` listings ignore `columns` (resources, files);
    `extra` names the columns a client may ask for beyond the defaults."""
    fmt = output_format(request)
    available = set(columns) | set(extra)
    if not fixed:
        columns = choose_columns(request, columns, list(always))
    rows = filter_rows(request, rows, available | set(columns))
    table = ([column_value(row, c) for c in columns] for row in rows)
    if fmt == "json":
        result = [dict(zip(columns, values, strict=True)) for values in table]
        body = {"ResultSet": {"Result": result, "totalRecords": str(len(result)), "title": title}}
        return HttpResponse(json.dumps(body, separators=(",", ":")), content_type="application/json")
    if fmt == "csv":
        return StreamingHttpResponse(_csv_lines(columns, table), content_type="text/csv; charset=utf-8")
    if fmt == "xml":
        return StreamingHttpResponse(
            _xml_lines(columns, table, title), content_type="text/xml; charset=utf-8"
        )
    if fmt == "html":
        return StreamingHttpResponse(
            _html_lines(columns, table, title), content_type="text/html; charset=utf-8"
        )
    raise InvalidInput(f"Unknown format '{fmt}' for a listing; use one of {', '.join(LISTING_FORMATS)}")


def _csv_lines(columns, table):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)  # the header comes even with no rows: pyxnat reads it unconditionally
    for n, values in enumerate(table, 1):
        writer.writerow(values)
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _xml_lines(columns, table, title):
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f'<ResultSet xmlns="http://www.nbirn.net/Schema/ResultSet" title={quoteattr(title)}>\n<results>\n'
    yield "<columns>" + "".join(f"<column>{escape(c)}</column>" for c in columns) + "</columns>\n<rows>\n"
    for values in table:
        yield "<row>" + "".join(f"<cell>{escape(v)}</cell>" for v in values) + "</row>\n"
    yield "</rows>\n</results>\n</ResultSet>\n"


def _html_lines(columns, table, title):
    # HTML only when asked for; never the default (clients reject 2xx bodies starting with <html>).
    yield f"<!DOCTYPE html>\n<html><head><title>{html_escape(title)}</title></head><body><table>\n<tr>"
    yield "".join(f"<th>{html_escape(c)}</th>" for c in columns) + "</tr>\n"
    for values in table:
        yield "<tr>" + "".join(f"<td>{html_escape(v)}</td>" for v in values) + "</tr>\n"
    yield "</table></body></html>\n"


def item_document(xsi_type: str, data_fields: dict[str, str], children: list[dict] | None = None) -> dict:
    """One object as xnatpy reads it: `{"items": [{"meta", "data_fields", "children"}]}` (§5.1)."""
    return {
        "items": [
            {
                "meta": {"xsi:type": xsi_type, "isHistory": False},
                "data_fields": {k: v for k, v in data_fields.items() if v not in (None, "")},
                "children": children or [],
            }
        ]
    }


def item_response(request: HttpRequest, xsi_type: str, data_fields: dict, children=None) -> HttpResponse:
    """A single object as JSON (default) or XML."""
    fmt = output_format(request)
    if fmt == "xml":
        return HttpResponse(item_xml(xsi_type, data_fields, children), content_type="text/xml; charset=utf-8")
    if fmt != "json":
        raise InvalidInput(f"Unknown format '{fmt}' for a single object; use json or xml")
    document = item_document(xsi_type, data_fields, children)
    return HttpResponse(json.dumps(document), content_type="application/json")


# Element names XNAT gives its root elements (`xnat:Subject` for xnat:subjectData, §5.2).
XML_ROOTS = {"xnat:projectData": "xnat:Project", "xnat:subjectData": "xnat:Subject"}
XML_ATTRIBUTES = ("ID", "project", "label", "type", "UID")


def item_xml(xsi_type: str, data_fields: dict, children=None) -> str:
    """A small XML document in XNAT's shape: root named after the type, ID/label as attributes."""
    root = XML_ROOTS.get(xsi_type) or xsi_type
    attributes = "".join(
        f" {name}={quoteattr(str(data_fields[name]))}" for name in XML_ATTRIBUTES if data_fields.get(name)
    )
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<{root}{attributes} xmlns:xnat="http://nrg.wustl.edu/xnat" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="{xsi_type}">',
    ]
    for name, value in data_fields.items():
        if name in XML_ATTRIBUTES or value in (None, "") or "/" in name:
            continue
        lines.append(f"  <xnat:{name}>{escape(str(value))}</xnat:{name}>")
    for child in children or []:
        field = child["field"]
        if field == "fields/field":
            lines.append("  <xnat:fields>")
            for item in child["items"]:
                name = quoteattr(item["data_fields"].get("name", ""))
                lines.append(
                    f"    <xnat:field name={name}>{escape(item['data_fields'].get('field', ''))}</xnat:field>"
                )
            lines.append("  </xnat:fields>")
        elif field == "demographics":
            for item in child["items"]:
                lines.append('  <xnat:demographics xsi:type="xnat:demographicData">')
                for name, value in item["data_fields"].items():
                    lines.append(f"    <xnat:{name}>{escape(str(value))}</xnat:{name}>")
                lines.append("  </xnat:demographics>")
    lines.append(f"</{root}>")
    return "\n".join(lines) + "\n"


# --- files ----------------------------------------------------------------------------------------
def zip_response(entries: Iterable[downloads.Entry], name: str) -> StreamingHttpResponse:
    """A zip streamed as it is written (no Content-Length: xnatpy shows an open-ended progress bar)."""
    response = StreamingHttpResponse(downloads.stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response


def files_response(request: HttpRequest, files: QuerySet[File], zip_name: str) -> HttpResponse:
    """Archive files as XNAT's file listing, or (`format=zip`) as a zip in XNAT's layout, by scan."""
    if output_format(request) == "zip":
        ordered = files.select_related("resource__scan__session", "resource__session").order_by(
            "resource__scan__sort_key", "resource__scan__scan_id", "resource__label", "name"
        )
        return zip_response(downloads.file_entries(ordered.iterator(chunk_size=2000)), zip_name)
    return listing(request, docs.file_rows(files), columns=docs.FILE_COLUMNS, title="files", fixed=True)


def file_response(request: HttpRequest, file: File) -> HttpResponse:
    """One archive file's bytes, streamed; HEAD answers its size only (xnatpy's `file.size`)."""
    path = file.absolute_path
    if not path.exists():
        raise NotFound(f"File '{file.name}' is missing on disk")
    if request.method == "HEAD":
        response = HttpResponse(content_type="application/octet-stream")
        response["Content-Length"] = str(path.stat().st_size)
        return response
    # FileResponse streams the open file and closes it when the response is done.
    response = FileResponse(open(path, "rb"), content_type="application/octet-stream")  # noqa: SIM115
    response["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response
