"""``alterPixels``: blank a rectangle of burned-in text in the pixel data (DicomEdit 6.3+, PS3.15 E.3.1).

Native pixel data is edited as raw bytes with numpy, so the element keeps its dtype, layout and padding.
Compressed pixel data is decompressed with pydicom's handlers first; the dataset then leaves as Explicit VR
Little Endian. Without a handler the statement fails: pixels are never silently left as they were.
"""

import logging
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian

from .errors import ScriptRuntimeError

if TYPE_CHECKING:
    from .evaluator import Context
    from .tagpath import TagPath

log = logging.getLogger(__name__)

CODEC_HINT = "install pylibjpeg with pylibjpeg-libjpeg and pylibjpeg-openjpeg, or pyjpegls for JPEG-LS"


def alter_pixels(ctx: "Context", args: "list[str | TagPath]") -> str:
    """``alterPixels["rectangle", "l=..,t=..,r=..,b=..", "solid", "v=0"]``."""
    shape, geometry, fill, fill_params = (str(arg).strip() for arg in args)
    if shape.lower() != "rectangle":
        raise ScriptRuntimeError(f'alterPixels: unknown shape {shape!r} (only "rectangle")')
    if fill.lower() != "solid":
        raise ScriptRuntimeError(f'alterPixels: unknown fill {fill!r} (only "solid")')
    box = _numbers(geometry, "lrtb")
    value = _numbers(fill_params or "v=0", "v")["v"]
    note = blank_rectangle(ctx.root, box["l"], box["t"], box["r"], box["b"], value)
    if note:
        log.info("%s", note)
        ctx.echoes.append(note)
    elif "PixelData" not in ctx.root:
        ctx.warn("alterPixels: the object has no pixel data")
    return ""


def _numbers(text: str, keys: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for part in text.split(","):
        key, _, number = part.partition("=")
        try:
            values[key.strip().lower()] = int(number.strip())
        except ValueError:
            raise ScriptRuntimeError(f"alterPixels: cannot read {part.strip()!r} in {text!r}") from None
    missing = [key for key in keys if key not in values]
    if missing:
        raise ScriptRuntimeError(f"alterPixels: {text!r} lacks {', '.join(k + '=' for k in missing)}")
    return values


def blank_rectangle(ds: Dataset, left: int, top: int, right: int, bottom: int, value: int) -> str | None:
    """Set columns left..right-1 of rows top..bottom-1, clipped to the image, in every frame and sample.

    Returns a note when the pixel data had to be decompressed; does nothing without pixel data.
    """
    import numpy as np

    if "PixelData" not in ds:
        return None
    transfer_syntax = _transfer_syntax(ds)
    note = None
    if transfer_syntax.is_compressed:
        try:
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # pydicom raises several types when no handler can decode
            raise ScriptRuntimeError(
                f"cannot blank pixels: transfer syntax {transfer_syntax.name} needs a codec ({CODEC_HINT}): {exc}"
            ) from exc
        note = (
            f"alterPixels: pixel data decompressed from {transfer_syntax.name} to Explicit VR Little Endian"
        )
        transfer_syntax = _transfer_syntax(ds)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    bits = int(ds.BitsAllocated)
    if photometric.endswith("_422") or bits not in (8, 16, 32):
        raise ScriptRuntimeError(
            f"cannot blank pixels: {bits}-bit {photometric or 'unknown'} pixel data is not supported"
        )
    rows, columns = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    order = ">" if transfer_syntax == ExplicitVRBigEndian else "<"
    dtype = np.dtype(f"{order}{'i' if signed else 'u'}{bits // 8}")
    count = frames * rows * columns * samples
    raw = bytes(ds.PixelData)
    if len(raw) < count * dtype.itemsize:
        raise ScriptRuntimeError(
            f"cannot blank pixels: pixel data holds {len(raw)} bytes, expected {count * dtype.itemsize}"
        )
    pixels = np.frombuffer(raw, dtype, count).copy()
    planar = samples > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1
    x0, x1 = sorted((min(max(left, 0), columns), min(max(right, 0), columns)))
    y0, y1 = sorted((min(max(top, 0), rows), min(max(bottom, 0), rows)))
    info = np.iinfo(dtype)
    fill = min(max(value, int(info.min)), int(info.max))
    if planar:
        pixels.reshape(frames, samples, rows, columns)[:, :, y0:y1, x0:x1] = fill
    else:
        pixels.reshape(frames, rows, columns, samples)[:, y0:y1, x0:x1, :] = fill
    ds.PixelData = pixels.tobytes() + raw[count * dtype.itemsize :]
    return note


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return UID(meta.TransferSyntaxUID)
    implicit, little = ds.original_encoding
    if little is False:
        return ExplicitVRBigEndian
    return UID("1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1")
