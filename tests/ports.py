"""Loopback ports for the servers tests start, which nobody else can take between choosing and binding.

Binding port 0, closing the socket and handing the number to a server leaves a moment in which anything
on the machine (another test run, the ephemeral port of an outgoing connection) may take it. So:
- a server that can bind port 0 itself and report its port does that (`manage.py serve --port 0`);
- a server that binds with SO_REUSEPORT (the DICOM receivers of `manage.py dicom_receiver`, the receiver
  thread of tests/dicom_receiver/conftest.py) gets a port that stays bound here, not listening, for as
  long as it runs: `reserved_port()`. The kernel hands a bound port to no one else (port 0, outgoing
  connections) and lets only SO_REUSEPORT sockets of the same user share it; connections go to the
  listening sockets only;
- any other server is started again on another port when it reports its port taken:
  `start_on_a_free_port()`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"
ATTEMPTS = 5


@contextmanager
def reserved_port() -> Iterator[int]:
    """A loopback port held for the block: bound with SO_REUSEPORT and not listening, so that a server
    binding it with SO_REUSEPORT too serves it, and nothing else can have it."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((HOST, 0))
        yield holder.getsockname()[1]


class PortTaken(Exception):
    """The server could not bind the port chosen for it: something took it after it was chosen."""


def start_on_a_free_port(start: Callable[..., T], *, ports: int = 1, attempts: int = ATTEMPTS) -> T:
    """`start(port, ...)` with `ports` different ports the OS has just handed out; when it raises
    PortTaken (having stopped what it started), again with other ports, at most `attempts` times. For a
    server that must be told its ports beforehand and cannot share them."""
    for _ in range(attempts):
        with ExitStack() as stack:
            sockets = [stack.enter_context(socket.socket()) for _ in range(ports)]
            for sock in sockets:
                sock.bind((HOST, 0))
            chosen = [sock.getsockname()[1] for sock in sockets]
        try:
            return start(*chosen)
        except PortTaken:
            continue
    raise AssertionError(f"every one of {attempts} ports was taken before the server could bind it")
