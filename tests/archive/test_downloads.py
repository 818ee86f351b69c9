"""archive/downloads.py: the stdlib-only streaming zip writer."""

from __future__ import annotations

import io
import zipfile

from archive import downloads


def test_stream_zip_writes_a_valid_zip_in_small_chunks(tmp_path):
    paths = []
    for n in range(3):
        path = tmp_path / f"f{n}.bin"
        path.write_bytes(bytes([n]) * (3 * downloads.CHUNK + 17))
        paths.append(path)
    chunks = list(downloads.stream_zip(downloads.Entry(f"dir/f{n}.bin", p) for n, p in enumerate(paths)))
    # No chunk holds much more than one read: memory stays flat whatever the total size.
    assert max(len(c) for c in chunks) <= downloads.CHUNK + 4096
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    for n, path in enumerate(paths):
        assert archive.read(f"dir/f{n}.bin") == path.read_bytes()
