"""XNAT's catalog files: the XML list of a resource's files that lives beside them (xnat-spec.md §1.6).

A scan's DICOM resource gets `scan_{id}_catalog.xml`, a `cat:DCMCatalog` whose `UID` is the
SeriesInstanceUID and whose entries (`xsi:type="cat:dcmEntry"`) name each file by its path relative
to the catalog, its SOP Instance UID and its MD5 digest. Other resources (SNAPSHOTS) get a plain
`cat:Catalog`. Tools that read XNAT's archive from disk find their files through these.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from xnatlite import layout

CAT_NS = "http://nrg.wustl.edu/catalog"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass(frozen=True)
class CatalogEntry:
    """One file of a catalog: its name inside the resource folder and what XNAT records of it."""

    name: str
    digest: str = ""
    uid: str = ""  # SOP Instance UID, DICOM entries only
    format: str = ""
    content: str = ""


def dicom_catalog_name(scan_id: str) -> str:
    return layout.scan_catalog_name(scan_id)


def resource_catalog_name(scan_id: str, resource_label: str) -> str:
    """`scan_{id}_{label}_catalog.xml` for a scan's other resources (SNAPSHOTS and the like)."""
    return (
        f"scan_{layout.scan_folder_name(scan_id)}_"
        f"{layout.check_label(resource_label, 'Resource label')}_catalog.xml"
    )


_PLAIN = re.compile(r"[^&<>\"'\n\r\t]*")


def _quote(value: str) -> str:
    """quoteattr, skipping its replacements for the usual file names, digests and UIDs (0.3 µs
    instead of 0.8 per attribute, six attributes per file)."""
    return f'"{value}"' if _PLAIN.fullmatch(value) else quoteattr(value)


def catalog_xml(
    entries: Iterable[CatalogEntry], *, dicom: bool, uid: str = "", label: str = "", description: str = ""
) -> bytes:
    """The catalog document as bytes (UTF-8, with XML declaration). Written as text: ElementTree took
    a tenth of the time of archiving a study without a script."""
    root = "cat:DCMCatalog" if dicom else "cat:Catalog"
    kind = "cat:dcmEntry" if dicom else "cat:entry"
    attributes = "".join(
        f" {name}={quoteattr(value)}"
        for name, value in (("UID", uid), ("ID", label), ("description", description))
        if value
    )
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<{root} xmlns:cat="{CAT_NS}" xmlns:xsi="{XSI_NS}"{attributes}>',
        "  <cat:entries>",
    ]
    for entry in entries:
        identifier = entry.name.rsplit(".", 1)[0] if dicom else entry.name
        fields = [("URI", entry.name), ("ID", identifier), ("UID", entry.uid), ("format", entry.format)]
        fields += [("content", entry.content), ("digest", entry.digest)]
        text = "".join(f" {name}={_quote(value)}" for name, value in fields if value)
        lines.append(f'    <cat:entry xsi:type="{kind}"{text} />')
    lines += ["  </cat:entries>", f"</{root}>", ""]
    return "\n".join(lines).encode("utf-8")


def write_catalog(
    path: Path,
    entries: Iterable[CatalogEntry],
    *,
    dicom: bool,
    uid: str = "",
    label: str = "",
    mode: int = 0o644,
) -> Path:
    """Write a catalog atomically (temporary name in the same folder, then rename)."""
    data = catalog_xml(entries, dicom=dicom, uid=uid, label=label)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_catalog(path: Path) -> tuple[str, list[CatalogEntry]]:
    """(catalog UID, entries) of a catalog file, for checks and for tools that merge into one."""
    root = ET.parse(path).getroot()
    entries = [
        CatalogEntry(
            name=element.get("URI", ""),
            digest=element.get("digest", ""),
            uid=element.get("UID", ""),
            format=element.get("format", ""),
            content=element.get("content", ""),
        )
        for element in root.iter(f"{{{CAT_NS}}}entry")
    ]
    return root.get("UID", ""), entries


def is_catalog(name: str) -> bool:
    """Whether a file name in a resource folder is a catalog (not one of the resource's files)."""
    return name.startswith("scan_") and name.endswith("_catalog.xml")


def write_resource_catalog(resource) -> Path | None:
    """Rewrite the catalog of a scan resource from its File rows (after files were added or removed).

    Returns the catalog's path, or None for resources that are not on a scan (XNAT keeps catalogs for
    those too, but nothing reads them from disk).
    """
    if not resource.scan_id:
        return None
    scan = resource.scan
    folder = Path(resource.folder)
    dicom = resource.label == "DICOM"
    entries = [
        CatalogEntry(f.name, f.md5, f.sop_instance_uid, f.format or resource.format, f.content)
        for f in resource.files.order_by("name")
    ]
    name = dicom_catalog_name(scan.scan_id) if dicom else resource_catalog_name(scan.scan_id, resource.label)
    return write_catalog(
        folder / name,
        entries,
        dicom=dicom,
        uid=scan.series_instance_uid if dicom else "",
        label=resource.label,
    )
