"""Issue 14 item 2: `serve` let waitress take in any request body before Django ran, so an anonymous POST
declaring 4 GB wrote 1.6 GB to disk and got no answer. Now a request without credentials may send a
small body only (`XNATLITE_HTTP_ANONYMOUS_BODY_BYTES`), and is answered 401 as soon as its headers say
more, without the body being read; one with credentials may send up to the upload limit, and more is
answered 413 at once (xnatlite/webserver.py)."""

from __future__ import annotations

import base64
import io
import socket
import zipfile
from urllib.parse import urlsplit

import pytest
import requests

from prearchive.models import PrearchiveSession
from tests.dicomgen import make_study
from tests.security.conftest import BOUND

pytestmark = pytest.mark.e2e
KIB = 1024
MIB = 1024 * KIB
IMPORT = "/data/services/import?project=A&subject=S1&session=MR1"
BASIC_ALICE = "Basic " + base64.b64encode(b"alice:pw").decode()


def written(pid: int) -> int:
    """Bytes the process has handed to write() (files, its log; not sockets): /proc/PID/io `wchar`."""
    with open(f"/proc/{pid}/io") as figures:
        return next(int(line.split()[1]) for line in figures if line.startswith("wchar:"))


def connect(url: str) -> socket.socket:
    address = urlsplit(url)
    return socket.create_connection((address.hostname, address.port), timeout=BOUND)


def head(path: str, *lines: str) -> bytes:
    return ("\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *lines]) + "\r\n\r\n").encode()


def send_more(connection: socket.socket, size: int) -> None:
    """Keep sending body bytes, as a client that does not read answers would, until done or refused."""
    try:
        connection.sendall(b"\0" * size)
    except OSError:
        pass  # the server closed the connection: what it would not read


def test_an_anonymous_body_declared_huge_is_refused_before_it_is_read(live):
    server = live()
    before = written(server.proc.pid)
    with connect(server.url) as connection:
        connection.sendall(head(IMPORT, "Content-Type: application/zip", f"Content-Length: {4 * 1024**3}"))
        connection.sendall(b"\0" * 64 * KIB)  # a little of the body: the answer comes without the rest
        status, answer = answer_of_first(connection)
        assert status == 401, answer
        assert b"www-authenticate: basic" in answer.lower() and b"connection: close" in answer.lower()
        send_more(connection, 8 * MIB)  # waitress buffers 512 KiB in memory, then writes to a file
    # Nothing of the body was kept: the server wrote (log lines aside) nothing while it came.
    assert written(server.proc.pid) - before < 256 * KIB


def answer_of_first(connection: socket.socket) -> tuple[int, bytes]:
    """The status and headers of the first answer (the body is not waited for)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(64 * KIB)
        assert chunk, f"the server closed without an answer: {received[:200]!r}"
        received += chunk
    return int(received.split(b" ", 2)[1]), received


def test_an_anonymous_chunked_body_is_refused(live):
    server = live()
    with connect(server.url) as connection:
        connection.sendall(head(IMPORT, "Content-Type: application/zip", "Transfer-Encoding: chunked"))
        connection.sendall(b"10000\r\n" + b"\0" * 0x10000 + b"\r\n")
        status, answer = answer_of_first(connection)
    assert status == 401, answer


def test_a_client_waiting_for_100_continue_is_refused_without_sending(live):
    server = live()
    with connect(server.url) as connection:
        connection.sendall(head(IMPORT, f"Content-Length: {4 * 1024**3}", "Expect: 100-continue"))
        status, answer = answer_of_first(connection)
    assert status == 401, answer  # never "100 Continue": curl sends nothing of the file


def test_a_small_anonymous_body_still_reaches_the_site(live):
    server = live()
    answer = requests.post(server.url + IMPORT[1:], data=b"\0" * KIB, timeout=BOUND)
    assert answer.status_code == 401
    assert answer.text == "The request requires user authentication"  # Django's (the API's) own answer
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="XNAT"'


def stored_zip(n_instances: int) -> bytes:
    """A zip of a generated study, stored (not deflated) so that its size is the pixels' size."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for n, ds in enumerate(make_study(n_series=1, n_instances=n_instances, rows=256, cols=256)):
            member = io.BytesIO()
            ds.save_as(member, enforce_file_format=True)
            archive.writestr(f"study/{n}.dcm", member.getvalue())
    return buffer.getvalue()


def test_a_signed_in_upload_larger_than_the_anonymous_limit_goes_through(live, project_a, alice):
    server = live()
    body = stored_zip(4)
    assert len(body) > 4 * 64 * KIB
    # With basic auth, as XNAT clients send it ...
    client = requests.Session()
    answer = client.post(
        server.url + IMPORT[1:],
        data=body,
        headers={"Content-Type": "application/zip"},
        auth=("alice", "pw"),
        timeout=BOUND,
    )
    assert answer.status_code == 200, answer.text
    row = PrearchiveSession.objects.get(project=project_a, label="MR1")
    assert row.files.count() == 4
    # ... and with the session cookie the first answer gave.
    assert client.cookies.get("JSESSIONID")
    answer = client.post(
        server.url + "data/services/import?project=A&subject=S2&session=MR2",
        data=stored_zip(4),
        headers={"Content-Type": "application/zip"},
        timeout=BOUND,
    )
    assert answer.status_code == 200, answer.text
    assert PrearchiveSession.objects.get(project=project_a, label="MR2").files.count() == 4


def test_a_body_larger_than_the_upload_limit_is_refused_at_once(live, project_a, alice):
    server = live(XNATLITE_UPLOAD_MAX_BYTES=str(MIB))
    before = written(server.proc.pid)
    with connect(server.url) as connection:
        connection.sendall(
            head(
                IMPORT,
                f"Authorization: {BASIC_ALICE}",
                "Content-Type: application/zip",
                f"Content-Length: {8 * MIB}",
            )
        )
        status, answer = answer_of_first(connection)
        assert status == 413, answer
        send_more(connection, 8 * MIB)
    assert written(server.proc.pid) - before < 256 * KIB
    assert not PrearchiveSession.objects.exists()
