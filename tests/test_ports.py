"""tests/ports.py: a reserved port is served by a SO_REUSEPORT listener and by nothing else; a server
that reports its port taken is started again on another one, a bounded number of times."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.ports import HOST, PortTaken, reserved_port, start_on_a_free_port


def listener(port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as socketserver's servers do
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    sock.listen()
    return sock


def test_a_reserved_port_is_served_by_a_reuse_port_listener_only():
    with reserved_port() as port:
        with pytest.raises(OSError, match="in use"):
            listener(port, reuse_port=False).close()
        with listener(port, reuse_port=True) as server, socket.create_connection((HOST, port), 30) as client:
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"hello")
                assert accepted.recv(5) == b"hello"


def test_a_reserved_port_is_refused_to_another_process():
    with reserved_port() as port:
        code = f"import socket; s = socket.socket(); s.bind(({HOST!r}, {port}))"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.returncode != 0 and "Address already in use" in result.stderr


def test_a_port_found_taken_is_replaced_by_another():
    tried = []

    def start(port: int) -> int:
        tried.append(port)
        if len(tried) < 3:
            raise PortTaken(port)
        return port

    assert start_on_a_free_port(start) == tried[-1]
    assert len(tried) == 3 and all(1024 <= port < 65536 for port in tried)


def test_it_gives_up_after_a_few_attempts():
    tried = []

    def start(port: int) -> None:
        tried.append(port)
        raise PortTaken(port)

    with pytest.raises(AssertionError, match="every one of 3 ports was taken"):
        start_on_a_free_port(start, attempts=3)
    assert len(tried) == 3


def test_a_server_may_be_given_several_ports():
    def start(dicom: int, http: int) -> tuple[int, int]:
        return dicom, http

    dicom, http = start_on_a_free_port(start, ports=2)
    assert dicom != http
