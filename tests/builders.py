"""Rows and files for UI tests, laid out exactly where xnatlite/layout.py says archived data lives."""

from __future__ import annotations

import hashlib
import shutil

import pydicom

from archive.models import File, ImageSession, Resource, Scan
from tests.dicomgen import pydicom_test_file
from xnatlite import layout


def add_dicom_scan(session: ImageSession, scan_id: str, source_name: str, copies: int = 1) -> Scan:
    """A scan whose DICOM resource holds `copies` copies of a pydicom test file, rows and files."""
    source = pydicom_test_file(source_name)
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    scan = Scan.objects.create(
        session=session,
        scan_id=scan_id,
        type=str(ds.get("SeriesDescription", "")) or "T1",
        series_description=str(ds.get("SeriesDescription", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        modality=str(ds.get("Modality", "")),
        frames=copies,
        sort_key=layout.scan_sort_key(scan_id),
    )
    resource = Resource.objects.create(scan=scan, label="DICOM", format="DICOM", content="RAW")
    folder = layout.scan_resource_dir(session.project_id, session.label, scan_id, "DICOM")
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(copies):
        name = f"{scan_id}-{n + 1}.dcm"
        target = folder / name
        shutil.copyfile(source, target)
        File.objects.create(
            resource=resource,
            name=name,
            path=layout.relative_path(target),
            size=target.stat().st_size,
            md5=hashlib.md5(target.read_bytes()).hexdigest(),
            format="DICOM",
            content="RAW",
            sop_class_uid=str(ds.SOPClassUID),
            sop_instance_uid=f"{ds.SOPInstanceUID}.{n}",
        )
    return scan


def archive_state() -> dict:
    """Every archive row and every file under the data root (path -> bytes' MD5): what a refused
    request must leave exactly as it was."""
    from archive.models import Subject
    from xnatlite.models import AuditEvent

    rows = {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Subject, ImageSession, Scan, Resource, File, AuditEvent)
    }
    root = layout.data_root()
    files = {
        str(path.relative_to(root)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
    return {"rows": rows, "files": files}
