"""Resource files while they upload: never inside the archive tree (issue 14 item 13: a process killed
mid-upload left a 204 MB `.part` in the resource folder, with no row, forever)."""

from __future__ import annotations

import io

from archive.models import File
from archive.services.resources import create_resource, store_file
from tests.factories import make_session_with_files
from xnatlite import layout, uploads


class WatchingStream(io.BytesIO):
    """A body that looks, while it is being written, at what exists in the archive and the cache."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.archive_seen: list[str] = []
        self.uploads_seen: list[str] = []

    def read(self, size: int = -1) -> bytes:
        if self.tell():  # after the first chunk: the part file exists now
            archive = layout.archive_root()
            self.archive_seen += [str(p.relative_to(archive)) for p in archive.rglob("*") if p.is_file()]
            self.uploads_seen += [p.name for p in (layout.cache_root() / "uploads").rglob("*.part")]
        return super().read(min(size, 1024 * 1024) if size and size > 0 else 1024 * 1024)


def test_a_file_being_uploaded_is_outside_the_archive_tree(project_a, alice):
    resource = create_resource(make_session_with_files(project_a)["session"], "REPORTS", by=alice)
    before = {p for p in layout.archive_root().rglob("*") if p.is_file()}
    stream = WatchingStream(b"x" * (3 * 1024 * 1024))
    [file] = store_file(resource, "big.bin", stream, by=alice)
    during = {layout.archive_root() / p for p in stream.archive_seen}
    assert during <= before, f"files inside the archive while uploading: {sorted(during - before)}"
    assert stream.uploads_seen, "the part file is written under cache/uploads/"
    file.refresh_from_db()
    assert file.size == 3 * 1024 * 1024 and file.absolute_path.read_bytes() == b"x" * (3 * 1024 * 1024)
    assert not list(uploads.uploads_root().iterdir())  # its upload folder and lock are gone
    assert File.objects.filter(resource=resource).count() == 1
