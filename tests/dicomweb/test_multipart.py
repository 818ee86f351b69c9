"""The multipart/related reader in constant memory: parts come out whole whatever the chunking (a
delimiter split across two reads), and malformed bodies are refused with a reason."""

from __future__ import annotations

import io

import pytest

from dicomweb import multipart
from xnatlite.errors import InvalidInput


def body(*parts: bytes, boundary: str = "b0und") -> bytes:
    out = b"preamble\r\n"
    for data in parts:
        out += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\nepilogue".encode()


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_parts_come_out_whole_whatever_the_chunking(chunk, monkeypatch, tmp_path):
    monkeypatch.setattr(multipart, "CHUNK", chunk)
    parts = [b"", b"\r\n--b0un", bytes(range(256)) * 40, b"--b0und is not here without CRLF"]
    found = multipart.read_parts(io.BytesIO(body(*parts)), "b0und", tmp_path, max_bytes=10**7, max_parts=10)
    assert [p.path.read_bytes() for p in found] == parts
    assert {p.content_type for p in found} == {"application/dicom"}


def test_malformed_bodies_are_refused(tmp_path):
    def read(data: bytes, boundary: str = "b0und", **limits):
        limits = {"max_bytes": 10**7, "max_parts": 10, **limits}
        return multipart.read_parts(io.BytesIO(data), boundary, tmp_path, **limits)

    with pytest.raises(InvalidInput, match="boundary"):
        read(body(b"x"), boundary="")
    with pytest.raises(InvalidInput, match="does not hold the boundary"):
        read(b"x" * 200_000)
    with pytest.raises(InvalidInput, match="ends inside a part"):
        read(body(b"x" * 1000)[:-30])
    with pytest.raises(InvalidInput, match="headers"):
        read(b"--b0und\r\n" + b"X-Long: " + b"y" * 20_000)
    with pytest.raises(multipart.BodyTooLarge):
        read(body(b"x" * 100_000), max_bytes=50_000)
    with pytest.raises(InvalidInput, match="more than 2 parts"):
        read(body(b"a", b"b", b"c"), max_parts=2)
