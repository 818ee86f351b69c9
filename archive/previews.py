"""PNG previews of archived scans, stored as the scan's SNAPSHOTS resource (xnat-spec.md §1.6, §7).

For each scan: the middle instance (by Instance Number), its stored values turned into display
values (Rescale Slope/Intercept), windowed by its Window Center/Width when it has them and else by
the 1st and 99th percentiles, MONOCHROME1 inverted; a multi-frame instance becomes a montage of up
to 16 evenly spaced frames. Two files, named like XNAT's snapshots but PNG:
`{sessionID}_{scanID}_qc.png` (content ORIGINAL, at most 512 pixels across) and `..._qc_t.png`
(THUMBNAIL, 128). Pixel data that is missing or cannot be decoded here (a compressed transfer
syntax without its codec) gives a placeholder image saying why; a preview never fails anything.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from datetime import datetime
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from django.db import transaction
from django.db.models import Exists, OuterRef
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset
from pydicom.filereader import read_partial

from archive import catalogs, unixgroups
from archive.models import File, ImageSession, Resource, Scan
from xnatlite import disk, layout

log = logging.getLogger(__name__)

SNAPSHOTS = "SNAPSHOTS"
FULL_SIZE = 512
THUMBNAIL_SIZE = 128
MONTAGE_FRAMES = 16
LOCK_WAIT_SECONDS = 600.0


class NoPixels(Exception):
    """Why an instance has no image to show (said on the placeholder)."""


# --- images ---------------------------------------------------------------------------------------
def _window(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """Display values -> 0..255, by the instance's window if it has one, else by percentiles."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    low = high = None
    if center is not None and width is not None:
        try:
            c = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
            w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
            if w > 1:
                low, high = c - w / 2, c + w / 2
        except (TypeError, ValueError, IndexError):
            pass
    if low is None:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return np.zeros(values.shape, dtype=np.uint8)
        low, high = (float(v) for v in np.percentile(finite, (1, 99)))
    if high <= low:
        high = low + 1
    scaled = (np.clip(values, low, high) - low) * (255.0 / (high - low))
    image = np.rint(scaled).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        image = 255 - image
    return image


def _frame_image(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    """One frame as 8-bit grey (H, W) or colour (H, W, 3)."""
    if frame.ndim == 3 and frame.shape[-1] in (3, 4):  # colour: already display values
        frame = frame[..., :3].astype(np.float64)
        low, high = float(frame.min()), float(frame.max())
        if frame.dtype != np.uint8 and high > low:
            frame = (frame - low) * (255.0 / (high - low))
        return np.clip(frame, 0, 255).astype(np.uint8)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return _window(frame.astype(np.float64) * slope + intercept, ds)


def _pixels(ds: Dataset) -> np.ndarray:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise NoPixels("no pixel data")
    try:
        return ds.pixel_array
    except Exception as exc:  # no codec for the transfer syntax, or damaged data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = syntax.name if syntax is not None else "unknown transfer syntax"
        raise NoPixels(f"cannot decode {name}") from exc


def render(ds: Dataset) -> Image.Image:
    """The preview image of one instance: the frame, or a montage of its frames."""
    pixels = _pixels(ds)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    colour = int(ds.get("SamplesPerPixel", 1) or 1) > 1
    if frames <= 1 or pixels.ndim < 3 or (colour and pixels.ndim == 3):
        return Image.fromarray(_frame_image(pixels, ds))
    count = min(frames, MONTAGE_FRAMES)
    chosen = [round(i * (frames - 1) / max(count - 1, 1)) for i in range(count)]
    tiles = [_frame_image(pixels[i], ds) for i in chosen]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    height, width = tiles[0].shape[:2]
    mode = "RGB" if tiles[0].ndim == 3 else "L"
    montage = Image.new(mode, (columns * width, rows * height))
    for n, tile in enumerate(tiles):
        montage.paste(Image.fromarray(tile), ((n % columns) * width, (n // columns) * height))
    return montage


def placeholder(reason: str) -> Image.Image:
    """A grey square saying there is no preview, and why."""
    image = Image.new("L", (256, 256), 96)
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 247, 247), outline=160)
    draw.text((24, 110), "No preview", fill=230)
    draw.text((24, 130), reason[:36], fill=200)
    return image


def _png(image: Image.Image, size: int) -> bytes:
    image = image.copy()
    image.thumbnail((size, size), Image.Resampling.LANCZOS if image.mode != "P" else Image.Resampling.NEAREST)
    out = BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


# --- files ----------------------------------------------------------------------------------------
def _middle_file(scan: Scan) -> File | None:
    """The scan's middle DICOM file by Instance Number (name order when numbers are missing)."""
    files = list(File.objects.filter(resource__scan=scan, resource__label="DICOM").order_by("name"))
    if not files:
        return None

    def instance_number(file: File) -> tuple[int, str]:
        try:
            with open(file.absolute_path, "rb") as fh:
                ds = read_partial(fh, stop_when=lambda tag, vr, length: tag > 0x00200013)
            return int(ds.get("InstanceNumber", 0) or 0), file.name
        except Exception:
            return 0, file.name

    files.sort(key=instance_number)
    return files[len(files) // 2]


def _write(path: Path, data: bytes, gid: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if gid is not None:
            os.chown(tmp, -1, gid)
        os.chmod(tmp, unixgroups.FILE_MODE if gid is not None else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def preview_image(scan: Scan) -> tuple[Image.Image, str]:
    """(image, '') for the scan's middle instance, or (placeholder, reason)."""
    middle = _middle_file(scan)
    if middle is None:
        return placeholder("no DICOM files"), "no DICOM files"
    try:
        ds = pydicom.dcmread(middle.absolute_path)
        return render(ds), ""
    except NoPixels as exc:
        return placeholder(str(exc)), str(exc)
    except Exception as exc:
        log.warning("preview of %s: %s", scan, exc)
        return placeholder("unreadable image"), f"unreadable image ({type(exc).__name__})"


def make_scan_preview(scan: Scan) -> Resource:
    """Write (or rewrite) the scan's two preview files and their SNAPSHOTS rows and catalog."""
    session = scan.session
    image, reason = preview_image(scan)
    gid = unixgroups.project_gid(session.project)
    folder = layout.scan_resource_dir(session.project_id, session.label, scan.scan_id, SNAPSHOTS)
    base = f"{session.accession_id}_{scan.scan_id}"
    outputs = [(f"{base}_qc.png", "ORIGINAL", _png(image, FULL_SIZE))]
    outputs.append((f"{base}_qc_t.png", "THUMBNAIL", _png(image, THUMBNAIL_SIZE)))
    with transaction.atomic():
        resource, _ = Resource.objects.get_or_create(
            scan=scan,
            label=SNAPSHOTS,
            defaults={"format": "PNG", "content": "SNAPSHOTS", "description": "previews"},
        )
        keep = []
        for name, content, data in outputs:
            path = folder / name
            _write(path, data, gid)
            File.objects.update_or_create(
                resource=resource,
                name=name,
                defaults={
                    "path": layout.relative_path(path),
                    "size": len(data),
                    "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                    "format": "PNG",
                    "content": content,
                    "tags": "placeholder" if reason else "",
                },
            )
            keep.append(name)
        for stale in resource.files.exclude(name__in=keep):
            stale.absolute_path.unlink(missing_ok=True)
            stale.delete()
        catalogs.write_resource_catalog(resource)
    if gid is not None:
        unixgroups.apply_to_tree(folder, gid)
    return resource


def make_session_previews(session_id: int) -> int:
    """Previews for every scan of an archived session (under the session's archive lock); the count."""
    session = ImageSession.objects.select_related("project").filter(pk=session_id).first()
    if session is None:
        return 0
    made = 0
    with disk.flock(
        disk.target_lock_path(session.project_id, session.label), wait_seconds=LOCK_WAIT_SECONDS
    ) as held:
        if not held:
            log.warning("previews of %s skipped: the session stayed locked", session)
            return 0
        session.refresh_from_db()
        for scan in Scan.objects.filter(session=session).select_related("session__project"):
            try:
                make_scan_preview(scan)
                made += 1
            except Exception:  # one bad scan must not stop the others, nor anything else
                log.exception("preview of %s failed", scan)
    log.info("previews of %s: %d scans", session, made)
    return made


def preview_file(scan: Scan, *, thumbnail: bool = False) -> Path | None:
    """The scan's preview PNG on disk (the thumbnail if asked), or None; callers check `read` first."""
    content = "THUMBNAIL" if thumbnail else "ORIGINAL"
    file = File.objects.filter(resource__scan=scan, resource__label=SNAPSHOTS, content=content).first()
    if file is None:
        return None
    path = file.absolute_path
    return path if path.is_file() else None


def sessions_missing_previews(archived_before: datetime, limit: int | None = 50) -> list[int]:
    """Archived sessions (unchanged since `archived_before`) with a scan that has no preview yet: their
    preview task was lost (a worker killed, a broker restarted) or has not run; the sweep queues it."""
    previewed = Resource.objects.filter(scan=OuterRef("pk"), label=SNAPSHOTS)
    ids = (
        Scan.objects.filter(session__updated_at__lte=archived_before)
        .filter(~Exists(previewed))
        .order_by("session_id")
        .values_list("session_id", flat=True)
        .distinct()
    )
    return list(ids if limit is None else ids[:limit])
