"""Deflated data sets are inflated with a bound before pydicom reads them (issue 14 item 4)."""

from __future__ import annotations

import io
import zlib

import pydicom
import pytest

from dicomio import inflation
from dicomio.errors import InvalidDicom
from dicomio.files import read_instance
from tests.dicomgen import make_study, write_deflated


def test_an_ordinary_deflated_instance_is_read_as_before(tmp_path):
    ds = make_study(n_instances=1)[0]
    path = write_deflated(tmp_path / "deflated.dcm", ds)
    read = read_instance(path)
    assert read.SOPInstanceUID == ds.SOPInstanceUID
    assert read.PixelData == ds.PixelData
    assert pydicom.dcmread(path).SOPInstanceUID == ds.SOPInstanceUID  # the file is what pydicom writes


def test_a_deflate_bomb_is_refused_before_pydicom_inflates_it(tmp_path):
    # 64 MiB of zeros in about 64 kB: past 200 times its size (the upload ratio) and 16 MiB
    path = write_deflated(tmp_path / "bomb.dcm", make_study(n_instances=1)[0], zeros=64 << 20)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(InvalidDicom, match="deflate bomb"):
        read_instance(path)
    with open(path, "rb") as stream, pytest.raises(InvalidDicom, match="deflate bomb"):
        read_instance(stream)


def test_the_absolute_cap_applies_whatever_the_ratio(tmp_path, settings):
    settings.INFLATED_MAX_BYTES = 1 << 20
    path = write_deflated(tmp_path / "big.dcm", make_study(n_instances=1)[0], zeros=2 << 20)
    with pytest.raises(InvalidDicom, match=f"more than {1 << 20} bytes"):
        read_instance(path)
    assert inflation.inflated_limit(10) == 1 << 20


def test_the_limit_is_the_ratio_beyond_the_free_bytes(settings):
    settings.UPLOAD_MAX_RATIO, settings.INFLATED_MAX_BYTES = 200, 1 << 30
    assert inflation.inflated_limit(1000) == inflation.FREE_BYTES
    assert inflation.inflated_limit(1 << 20) == 200 << 20
    assert inflation.inflated_limit(1 << 30) == 1 << 30


def test_inflating_keeps_pieces_small_and_counts_everything():
    data = bytes(10 << 20) + b"end"
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = deflater.compress(data) + deflater.flush()
    pieces = list(inflation._inflate(io.BytesIO(stream)))
    assert max(len(piece) for piece in pieces) <= inflation.PIECE
    assert b"".join(pieces) == data
    assert inflation.inflated_size(io.BytesIO(stream), len(stream), 11 << 20) == len(data)


def test_garbage_instead_of_a_deflate_stream_is_invalid(tmp_path):
    path = write_deflated(tmp_path / "x.dcm", make_study(n_instances=1)[0])
    data = path.read_bytes()
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    path.write_bytes(data[:meta_end] + b"\xff" * 100)
    with pytest.raises(InvalidDicom):
        read_instance(path)
