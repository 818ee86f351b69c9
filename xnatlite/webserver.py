"""The web server of `manage.py serve`: waitress, with the limits a server facing the network needs
and waitress does not set by itself (issue 14, items 2 and 6; README "Security", *The embedded web
server*).

waitress reads every request, body included, in its I/O thread, into memory and then a temporary
file, before a request thread calls Django; and it answers from a buffer the request thread fills. So
what Django checks comes too late for three things, decided here instead:

- **Bodies before sign-in.** Once a request's headers are in, a body larger than
  `XNATLITE_HTTP_ANONYMOUS_BODY_BYTES` (or chunked, of unknown size) from a request that carries no
  credentials at all (no `Authorization` header, no session cookie) is refused with 401 and the
  connection closed, without reading the body. Credentials are only looked at, not checked (a password
  hash has no place in the I/O thread): a request that has some may send up to the upload limit
  (`XNATLITE_UPLOAD_MAX_BYTES`, plus room for a form's framing), and Django refuses it later if they are
  wrong; anything larger is answered 413 at once, as waitress does.
- **Slow clients.** A request's headers must all arrive within `XNATLITE_HTTP_HEADER_SECONDS` of its
  first byte, and a connection waiting for its next request is closed after as long (slowloris). A
  connection sending a body, or reading an answer, that moves nothing for `XNATLITE_HTTP_IDLE_SECONDS`
  is closed; a request thread waiting on it then ends with the connection.
- **Answers to clients that do not read.** A request thread writes an answer into the connection's
  buffer, which overflows to a temporary file, up to `XNATLITE_HTTP_SPOOL_BYTES`, and is then free
  for the next request while the I/O thread sends the rest; only a larger answer makes the thread
  wait for the client (waitress's default holds 16 MiB, so ten unread zips stopped all threads).

Connections are watched with poll(), not select(), so more than 1024 may be open
(`XNATLITE_HTTP_CONNECTIONS`).
"""

from __future__ import annotations

import logging
import resource
import time
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher
from waitress.utilities import Error

log = logging.getLogger("xnatlite.serve")

# A multipart form wraps an uploaded file in a few hundred bytes, plus its other fields.
FORM_FRAMING_BYTES = 1024 * 1024
# File descriptors the process needs beyond its connections: database, logs, files being read or written.
SPARE_FILES = 256


class Unauthorized(Error):
    code = 401
    reason = "Unauthorized"

    def to_response(self, ident=None):
        status, headers, body = super().to_response(ident)
        return status, [*headers, ("WWW-Authenticate", 'Basic realm="XNAT"')], body


def has_credentials(headers: dict[str, str]) -> bool:
    """Whether a request says who sends it (basic auth, an alias token, a session cookie); not whether
    that is true, which Django decides."""
    if headers.get("AUTHORIZATION", "").strip():
        return True
    return bool(parse_cookie(headers.get("COOKIE", "")).get(settings.SESSION_COOKIE_NAME))


class GuardedParser(HTTPRequestParser):
    """waitress's request parser, which also refuses an anonymous body once the headers are in."""

    completed: bool  # waitress's own attributes, for the type checker
    headers_finished: bool

    def __init__(self, adj: Adjustments):
        super().__init__(adj)
        self.started = time.time()  # the request's first byte: the header time limit counts from here

    def received(self, data: bytes) -> int:
        in_header = not self.headers_finished
        consumed = super().received(data)
        if in_header and self.headers_finished and not self.completed and not has_credentials(self.headers):
            limit = settings.HTTP_ANONYMOUS_BODY_BYTES
            if self.chunked or self.content_length > limit:
                self.error = Unauthorized(f"Sign in to send a body of more than {limit} bytes")
                self.completed = True
                self.expect_continue = False  # a client waiting for "100 Continue" never sends the body
        return consumed


class GuardedChannel(HTTPChannel):
    parser_class = GuardedParser


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server with the guarded parser and the time limits of the module docstring."""

    channel_class = GuardedChannel

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # marks connections idle for channel_timeout (no request running)
        header_cutoff = now - settings.HTTP_HEADER_SECONDS
        idle_cutoff = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            request = channel.request
            if channel.total_outbufs_len:
                # Output waits for the client. A running request thread leaves less than send_bytes
                # unsent on purpose, so only more than that while it runs says the client stalled.
                waiting = channel.total_outbufs_len >= self.adj.send_bytes or not channel.requests
                if waiting and channel.last_activity < idle_cutoff:
                    # Closed here, not marked: a socket the client does not read never turns writable,
                    # so waitress would not look at the mark. Closing wakes a thread waiting on it.
                    log.info("closing a connection from %s that read nothing for a while", channel.addr)
                    channel.handle_close()
            elif channel.requests:
                continue  # a request thread is working on it
            elif request is not None and not request.headers_finished:
                if request.started < header_cutoff:
                    log.info("closing a connection from %s whose headers were too slow", channel.addr)
                    channel.will_close = True
            elif request is None and channel.last_activity < header_cutoff:
                channel.will_close = True  # waiting for a request that does not come


def _allow_open_files(connections: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < wanted:
            log.warning("only %d open files allowed: fewer than %d connections will fit", raised, connections)


def create_server(application: Any, *, host: str, port: int, threads: int, **extra: Any) -> Any:
    """A waitress server (not yet running) for `application`, with xnatlite's limits; `extra` adds
    waitress adjustments. Like waitress.create_server, one listener per address `host` resolves to."""
    connections = settings.HTTP_CONNECTIONS
    _allow_open_files(connections)
    adj = Adjustments(
        host=host,
        port=port,
        threads=threads,
        connection_limit=connections,
        asyncore_use_poll=True,
        channel_timeout=settings.HTTP_IDLE_SECONDS,
        cleanup_interval=1,  # how often maintenance() looks: each look is a pass over the connections
        max_request_body_size=settings.UPLOAD_MAX_BYTES + FORM_FRAMING_BYTES,
        outbuf_high_watermark=settings.HTTP_SPOOL_BYTES,
        **extra,
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict = {}
    servers = [
        GuardedServer(application, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
        for sockinfo in adj.listen
    ]
    if len(servers) == 1:
        return servers[0]
    addresses = [(server.effective_host, server.effective_port) for server in servers]
    return MultiSocketServer(socket_map, adj, addresses, dispatcher, servers[-1].log_info)


def addresses(server: Any) -> list[tuple[str, int]]:
    """Where a server from create_server listens."""
    if isinstance(server, MultiSocketServer):
        return list(server.effective_listen)
    return [(server.effective_host, server.effective_port)]
