"""Issue 14 item 6: a handful of slow clients stopped `serve`. 120 connections with an unfinished header
took every connection waitress allowed (100), so every request waited for as long as they were held;
ten zip downloads nobody read held all the request threads, each waiting for its client to take more
than 16 MiB. Now headers have a time limit, a connection waiting for nothing has one too, 1000
connections fit, an answer is spooled to a temporary file (up to XNATLITE_HTTP_SPOOL_BYTES) so its
thread goes back to work, and a client that reads nothing of a larger one is dropped after
XNATLITE_HTTP_IDLE_SECONDS (xnatlite/webserver.py)."""

from __future__ import annotations

import base64
import io
import select
import socket
from urllib.parse import urlsplit

import pytest
import requests

from archive.services.resources import store_file
from tests.factories import TESTS, make_session_with_files
from tests.security.conftest import BOUND
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024
HALF_OPEN = 120
DOWNLOADS = 10
# A zip larger than what waitress used to hold for a client (16 MiB) plus what the kernel buffers
# between the two sockets on loopback (4 MiB on Linux's defaults): a thread had to wait to write it.
BIG = 32 * MIB
ZIP = "/data/projects/A/subjects/S1/experiments/MR1/resources/NOTES/files?format=zip"
ESTABLISHED = 1  # tcpi_state in Linux's TCP_INFO
BASIC_ALICE = "Basic " + base64.b64encode(b"alice:pw").decode()


@pytest.fixture
def big_session(project_a, alice):
    made = make_session_with_files(project_a)
    store_file(made["notes"], "big.bin", io.BytesIO(b"\0" * BIG), by=TESTS)
    return made


def connect(url: str) -> socket.socket:
    address = urlsplit(url)
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # a client that takes little
    connection.settimeout(BOUND)
    connection.connect((address.hostname, address.port))
    return connection


def half_open(url: str) -> socket.socket:
    """A connection that starts a request and never finishes its headers."""
    connection = connect(url)
    connection.sendall(b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return connection


def unread_download(url: str) -> socket.socket:
    """A zip download whose client reads the start of the answer and then nothing more."""
    connection = connect(url)
    request = (
        f"GET {ZIP} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {BASIC_ALICE}\r\nConnection: close\r\n\r\n"
    )
    connection.sendall(request.encode())
    assert connection.recv(1024).startswith(b"HTTP/1.1 200"), "the download did not start"
    return connection


def is_closed(connection: socket.socket) -> bool:
    """Whether the server has ended the connection (FIN or RST seen), without reading from it. The FIN of
    a connection with unread data comes after that data, so only the reader of it sees it."""
    return connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != ESTABLISHED


def read_to_end(connection: socket.socket) -> bytes:
    received = []
    try:
        while chunk := connection.recv(MIB):
            received.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(received)


def answers(url: str) -> bool:
    return requests.get(url + "login/", timeout=BOUND).status_code == 200


def close_all(connections: list[socket.socket]) -> None:
    for connection in connections:
        connection.close()


def test_slow_headers_and_unread_downloads_leave_room_for_everyone_else(live, big_session):
    # Limits far beyond the test, so that nothing is closed while it runs: only room and threads count.
    server = live(XNATLITE_HTTP_HEADER_SECONDS="600", XNATLITE_HTTP_IDLE_SECONDS="600")
    downloads = [unread_download(server.url) for _ in range(DOWNLOADS)]  # more than the 4 threads
    slow = [half_open(server.url) for _ in range(HALF_OPEN)]
    try:
        assert answers(server.url)
        assert not [c for c in slow if is_closed(c)]  # ... while all of them are still held
        # Each download's thread wrote its zip to the spool and went back to work; the zips are whole.
        whole = read_to_end(downloads[0])
        assert len(whole) > BIG and b"PK\x05\x06" in whole[-200:]  # the end of the zip's directory
    finally:
        close_all(downloads + slow)


def test_headers_too_slow_are_cut_off(live):
    server = live(XNATLITE_HTTP_HEADER_SECONDS="2", XNATLITE_HTTP_IDLE_SECONDS="600")
    slow = [half_open(server.url) for _ in range(HALF_OPEN)]
    silent = [connect(server.url) for _ in range(10)]  # connected, sending nothing
    trickling = [half_open(server.url) for _ in range(3)]  # a header byte now and then: never idle
    try:
        open_ones = list(trickling)
        for _ in range(int(BOUND / 0.2)):
            for connection in open_ones:
                try:
                    connection.send(b"x")
                except OSError:
                    pass  # closed since the last look
            select.select(open_ones, [], [], 0.2)  # until one is closed, or the next byte is due
            open_ones = [c for c in open_ones if not is_closed(c)]
            if not open_ones:
                break
        assert not open_ones, "a connection trickling its headers was kept"
        wait_for(lambda: all(is_closed(c) for c in slow + silent), what="the slow connections to close")
        assert answers(server.url)
    finally:
        close_all(slow + silent + trickling)


def test_a_client_that_reads_nothing_of_a_large_answer_is_dropped(live, big_session):
    # Answers of 1 MiB at most are spooled: each of these downloads holds a thread until it is dropped,
    # and only then does the next one start (4 threads, 10 downloads).
    server = live(XNATLITE_HTTP_SPOOL_BYTES=str(MIB), XNATLITE_HTTP_IDLE_SECONDS="2")
    downloads = [unread_download(server.url) for _ in range(DOWNLOADS)]
    try:
        assert answers(server.url)
        wait_for(
            lambda: server.log.read_text().count("that read nothing for a while") == DOWNLOADS,
            what="every stalled download to be dropped",
        )
        for connection in downloads:
            assert len(read_to_end(connection)) < BIG  # cut off, not finished
    finally:
        close_all(downloads)
