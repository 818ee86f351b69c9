"""alterPixels: blank a rectangle in native, multi-frame and compressed pixel data."""

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from anonymize.dicomedit import ScriptRuntimeError, apply_to_file, parse_script
from tests.anonymize.dicomedit.datasets import VARIABLES, bundled, run

BLANK = 'alterPixels["rectangle", "l=10,t=5,r=30,b=20", "solid", "v=0"]'


def test_it_blanks_exactly_the_rectangle_in_native_pixels():
    ds = pydicom.dcmread(bundled("CT_small.dcm"))
    before = ds.pixel_array.copy()
    run(BLANK, ds)
    after = ds.pixel_array
    assert after.dtype == before.dtype and after.shape == before.shape
    assert (after[5:20, 10:30] == 0).all()
    outside = np.ones(before.shape, bool)
    outside[5:20, 10:30] = False
    assert (after[outside] == before[outside]).all()
    assert before[5:20, 10:30].any()


def test_it_clips_the_rectangle_and_uses_the_fill_value():
    ds = pydicom.dcmread(bundled("MR_small.dcm"))
    run('alterPixels["rectangle", "l=50, t=-5, r=1000, b=3", "solid", "v=7"]', ds)
    assert (ds.pixel_array[0:3, 50:] == 7).all()
    assert len(ds.PixelData) == 64 * 64 * 2


def test_it_blanks_every_frame_and_sample():
    ds = pydicom.dcmread(bundled("SC_rgb_rle_2frame.dcm"))
    ds.decompress(generate_instance_uid=False)
    before = ds.pixel_array.copy()
    run(BLANK, ds)
    after = ds.pixel_array
    assert after.shape == before.shape == (2, 100, 100, 3)
    assert (after[:, 5:20, 10:30, :] == 0).all()
    assert (after[:, 20:, :, :] == before[:, 20:, :, :]).all()


def test_it_decompresses_rle_and_notes_it(tmp_path):
    dst = tmp_path / "out.dcm"
    result = apply_to_file(
        bundled("MR_small_RLE.dcm"), dst, parse_script('version "6.3"\n' + BLANK), VARIABLES
    )
    written = pydicom.dcmread(dst)
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (written.pixel_array[5:20, 10:30] == 0).all()
    assert result.echoes == [
        "alterPixels: pixel data decompressed from RLE Lossless to Explicit VR Little Endian"
    ]


def decodable(ds: pydicom.Dataset) -> bool:
    """Whether an installed pydicom pixel handler decodes this dataset."""
    try:
        return ds.pixel_array is not None
    except Exception:
        return False


def test_jpeg_2000_is_blanked_or_refused_clearly():
    ds = pydicom.dcmread(bundled("MR_small_jp2klossless.dcm"))
    if decodable(ds):
        run(BLANK, ds)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert (ds.pixel_array[5:20, 10:30] == 0).all()
    else:
        with pytest.raises(
            ScriptRuntimeError, match="cannot blank pixels: transfer syntax JPEG 2000 .* needs a codec"
        ):
            run(BLANK, ds)


def test_jpeg_ls_without_a_codec_is_refused():
    ds = pydicom.dcmread(bundled("MR_small_jpeg_ls_lossless.dcm"))
    if decodable(ds):
        pytest.skip("a JPEG-LS codec is installed")
    with pytest.raises(ScriptRuntimeError, match="cannot blank pixels: transfer syntax JPEG-LS"):
        run(BLANK, ds)


def test_it_refuses_unknown_shapes_and_bad_geometry():
    ds = pydicom.dcmread(bundled("CT_small.dcm"))
    with pytest.raises(ScriptRuntimeError, match="unknown shape 'circle'"):
        run('alterPixels["circle", "l=1,t=1,r=2,b=2", "solid", "v=0"]', ds)
    with pytest.raises(ScriptRuntimeError, match="lacks b="):
        run('alterPixels["rectangle", "l=1,t=1,r=2", "solid", "v=0"]', ds)


def test_without_pixel_data_it_only_warns():
    ds = pydicom.dcmread(bundled("rtplan.dcm"))
    assert run(BLANK, ds).warnings == ["alterPixels: the object has no pixel data"]
