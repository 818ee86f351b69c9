"""The receiver's DICOM upper layer (PS3.8): one thread per association that blocks on its socket.

pynetdicom's acceptor polls: its DUL thread sleeps 1 ms whenever it has nothing queued and its
association thread sleeps 1 ms per loop, and it decodes and re-encodes every command and file meta
with pydicom. With the polling removed it still cost 2.0-2.5 ms of CPU per MR instance, about what
Orthanc needs for the whole instance, so this loop replaces it for the acceptor side only
(bench/receiver.py, README "The DICOM receiver"). It reuses pynetdicom for everything but the hot path: the
A-ASSOCIATE, A-RELEASE and A-ABORT PDU classes, and its presentation context negotiation
(`negotiate_unrestricted`, the same call pynetdicom's own acceptor makes), done once per distinct list
of proposed items and remembered. Checked against
pynetdicom 3.0 and dcmtk 3.6 as requestors (tests/dicomio/test_acceptor.py).

What it serves: C-ECHO, and C-STORE of any SOP class in the first transfer syntax proposed that we can read (data sets
streamed to disk fragment by fragment, never held in memory). Anything else is aborted. The behaviour
follows pynetdicom's acceptor: its rejections, its 60 s of network silence before A-ABORT, A-ABORT on
an unexpected or undecodable PDU.

Who may hold a connection (issue 14 item 7: 70 connections that never asked for an association, or
64 slow senders, kept every real sender out): see `Limits`. A connection has a short time in all for
its A-ASSOCIATE-RQ, however slowly it trickles in; connections that have not asked yet take no
association slot; one address holds at most so many connections at once (more are closed as they
come); and the last slots are kept for senders on a receiver's whitelist.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from pydicom.uid import UID
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ, A_RELEASE_RP
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import build_context, negotiate_unrestricted
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]  # made at import time

from dicomio import contexts, dimse
from dicomio.errors import InvalidDicom

log = logging.getLogger("xnatlite.receiver")

APPLICATION_CONTEXT_NAME = "1.2.840.10008.3.1.1.1"
# The whole time a connection has to send its A-ASSOCIATE-RQ (pynetdicom waits 30 s per read), and
# pynetdicom's network_timeout.
ASSOCIATE_TIMEOUT = 10.0
NETWORK_TIMEOUT = 60.0
# The largest PDU we accept: fewer, larger reads and writes than the usual 16 kB.
MAX_PDU_SIZE = 1 << 20
MAX_ASSOCIATIONS = 64
# Bounds on what is held in memory: an A-ASSOCIATE-RQ and a command set are small.
MAX_CONTROL_PDU = 1 << 20
MAX_COMMAND = 1 << 16

A_ASSOCIATE_RQ_TYPE, P_DATA_TF_TYPE, A_RELEASE_RQ_TYPE, A_ABORT_TYPE = 0x01, 0x04, 0x05, 0x07
# A-ABORT sources and reasons (PS3.8 9.3.8)
SERVICE_USER, SERVICE_PROVIDER = 0x00, 0x02
UNRECOGNIZED_PDU, UNEXPECTED_PDU, INVALID_PARAMETER = 0x01, 0x02, 0x06
# A-ASSOCIATE-RJ (result, source, reason) for a full house: transient, local limit exceeded.
REJECT_BUSY = (0x02, 0x03, 0x02)


@dataclass(frozen=True)
class Limits:
    """What one listener lets its peers hold (README "The DICOM receiver", Limits)."""

    associate_timeout: float = ASSOCIATE_TIMEOUT  # seconds in all for the A-ASSOCIATE-RQ
    max_associations: int = MAX_ASSOCIATIONS  # associations at once
    reserved: int = 8  # of those, the last ones: only for a calling AE on a receiver's whitelist
    per_peer: int = 16  # connections from one address at once (asking or associated)


class Closed(Exception):
    """The connection ended: released, aborted by either side, dropped or timed out."""


class Instance(Protocol):
    """Where a C-STORE data set goes while it arrives (dicom_receiver/incoming.py)."""

    def write(self, data) -> None: ...

    def discard(self) -> None: ...


class Events(Protocol):
    """What the association asks of the rest of the receiver (dicom_receiver/handlers.py)."""

    def requested(self, assoc: Association) -> tuple[int, int, int] | None:
        """None to accept the association, else the A-ASSOCIATE-RJ (result, source, reason)."""

    def open_instance(self, assoc: Association, command: dict[int, bytes], transfer_syntax: str) -> Instance:
        """A place for the data set of a C-STORE-RQ that starts arriving."""

    def store(self, assoc: Association, instance: Instance) -> int:
        """The data set arrived whole: keep it or refuse it; the C-STORE-RSP status."""

    def echo(self, assoc: Association) -> int:
        """The C-ECHO-RSP status."""

    def closed(self, assoc: Association) -> None:
        """The association ended (see `assoc.released`)."""


@dataclass
class Association:
    """One association as the acceptor sees it."""

    sock: socket.socket
    peer_address: str
    port: int
    called_ae: str = ""
    calling_ae: str = ""
    peer_max_pdu: int = 0  # 0: no limit
    contexts: dict[int, str] = field(default_factory=dict)  # accepted context ID -> transfer syntax
    established: bool = False
    released: bool = False
    trusted: bool = False  # on the whitelist of the receiver it called: may use the reserved slots
    admitted: bool = False  # holds one of the listener's association slots
    state: object | None = None  # the events' own bookkeeping (statistics for the log line)


def _abort_pdu(source: int, reason: int) -> bytes:
    pdu = A_ABORT_RQ()
    pdu.source, pdu.reason_diagnostic = source, reason
    return pdu.encode()


def _reject_pdu(result: int, source: int, reason: int) -> bytes:
    primitive = A_ASSOCIATE()
    primitive.result, primitive.result_source, primitive.diagnostic = result, source, reason
    pdu = A_ASSOCIATE_RJ()
    pdu.from_primitive(primitive)
    return pdu.encode()


# An A-ASSOCIATE-RQ's fixed fields: protocol version, reserved, called and calling AE titles, reserved.
_FIXED_FIELDS = 68
NEGOTIATIONS_KEPT = 64
NEGOTIATION_KEPT_BYTES = 64 << 10  # the items of a request longer than this are not remembered


@dataclass(frozen=True)
class _Negotiated:
    """What the items of an A-ASSOCIATE-RQ negotiate: the accepted contexts, the peer's largest PDU and
    the items of the A-ASSOCIATE-AC."""

    contexts: dict[int, str]
    peer_max_pdu: int
    reply_items: bytes


# {the items of an A-ASSOCIATE-RQ: their negotiation}. A sender proposes the same items every time (a
# storescu or a PACS, 128 presentation contexts), and decoding and negotiating them with pynetdicom cost
# 8 ms of CPU per association; a sender opening one association per instance paid that per instance.
_negotiations: dict[bytes, _Negotiated] = {}


def _negotiate_items(pdu_type: int, length: int, body: bytes) -> _Negotiated:
    """Decode the request with pynetdicom and negotiate as pynetdicom's own acceptor does (every storage
    SOP class in the first transfer syntax proposed that we can read, Verification, role selection), then remember it."""
    pdu = A_ASSOCIATE_RQ()
    try:
        pdu.decode(struct.pack(">BBI", pdu_type, 0, length) + body)
        request = pdu.to_primitive()
    except Exception as exc:
        raise _ProtocolError(f"undecodable A-ASSOCIATE-RQ: {exc}", INVALID_PARAMETER) from None
    roles = {
        item.sop_class_uid: (item.scu_role, item.scp_role)
        for item in request.user_information
        if isinstance(item, SCP_SCU_RoleSelectionNegotiation)
    }
    usable, refused = contexts.restrict(request.presentation_context_definition_list)
    results, role_replies = negotiate_unrestricted(
        usable,
        [build_context(Verification)],
        roles,  # type: ignore[arg-type]
    )
    results = sorted([*results, *refused], key=lambda cx: cx.context_id or 0)
    accept = A_ASSOCIATE()
    accept.application_context_name = UID(APPLICATION_CONTEXT_NAME)
    accept.calling_ae_title = request.calling_ae_title
    accept.called_ae_title = request.called_ae_title
    accept.result, accept.result_source = 0x00, 0x01
    accept.presentation_context_definition_results_list = results
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = MAX_PDU_SIZE
    class_uid = ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = PYNETDICOM_IMPLEMENTATION_VERSION
    accept.user_information = [max_length, class_uid, version, *role_replies]
    reply = A_ASSOCIATE_AC()
    reply.from_primitive(accept)
    negotiated = _Negotiated(
        contexts={cx.context_id: str(cx.transfer_syntax[0]) for cx in results if cx.result == 0x00},  # type: ignore[misc]
        peer_max_pdu=int(request.maximum_length_received or 0),
        reply_items=reply.encode()[6 + _FIXED_FIELDS :],
    )
    items = body[_FIXED_FIELDS:]
    if len(items) <= NEGOTIATION_KEPT_BYTES:  # storescu's are 9.5 kB: at most 4 MB remembered
        if len(_negotiations) >= NEGOTIATIONS_KEPT:
            _negotiations.clear()
        _negotiations[items] = negotiated
    return negotiated


class _ProtocolError(Exception):
    def __init__(self, message: str, reason: int = UNEXPECTED_PDU):
        super().__init__(message)
        self.reason = reason


def _set_timeout(sock: socket.socket, seconds: float) -> None:
    """Time reads and writes out in the kernel (SO_RCVTIMEO): a Python socket timeout would poll()
    before every recv, doubling the system calls of the receiving loop."""
    value = struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


class AssociationLoop:
    """Runs one association to its end on a connected socket.

    Reads go through one buffer filled with as much as the socket has (a whole MR instance often
    arrives in two or three reads); data set fragments are written to their instance from it.
    """

    def __init__(self, assoc: Association, events: Events, listener: Listener | None = None):
        self.assoc, self.events, self.listener = assoc, events, listener
        self.buffer = bytearray(MAX_PDU_SIZE + (64 << 10))
        self.view = memoryview(self.buffer)
        self.start = self.end = 0  # the unread bytes are buffer[start:end]
        self.command = bytearray()
        self.request: dict[int, bytes] | None = None  # the C-STORE-RQ whose data set is arriving
        self.request_context = 0
        self.instance: Instance | None = None
        self.deadline: float | None = None  # until the A-ASSOCIATE-RQ is in: when it must be

    # --- socket ---
    def _receive(self) -> None:
        """Append what the socket has to the buffer (at least one byte)."""
        if self.deadline is not None:  # a request trickling in byte by byte still ends on time
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _set_timeout(self.assoc.sock, max(left, 0.001))
        try:
            count = self.assoc.sock.recv_into(self.view[self.end :])
        except BlockingIOError:
            raise TimeoutError from None  # SO_RCVTIMEO expired
        except OSError as exc:
            raise Closed(f"connection lost: {exc}") from None
        if not count:
            raise Closed("connection closed by the peer")
        self.end += count

    def _read(self, count: int) -> memoryview:
        """The next `count` bytes (at most the buffer size), valid until the next read."""
        if self.end - self.start < count:
            if self.start + count > len(self.buffer):  # move what is left to the front
                left = self.end - self.start
                self.buffer[:left] = self.buffer[self.start : self.end]
                self.start, self.end = 0, left
            while self.end - self.start < count:
                self._receive()
        view = self.view[self.start : self.start + count]
        self.start += count
        if self.start == self.end:
            self.start = self.end = 0
        return view

    def _stream(self, count: int, sink: Instance) -> None:
        """Hand the next `count` bytes to `sink`, in pieces as they arrive."""
        while count:
            if self.start == self.end:
                self.start = self.end = 0
                self._receive()
            piece = min(count, self.end - self.start)
            sink.write(self.view[self.start : self.start + piece])
            self.start += piece
            count -= piece
        if self.start == self.end:
            self.start = self.end = 0

    def _send(self, data: bytes) -> None:
        try:
            self.assoc.sock.sendall(data)
        except BlockingIOError:
            raise TimeoutError from None
        except OSError as exc:
            raise Closed(f"connection lost: {exc}") from None

    def _read_pdu_header(self) -> tuple[int, int]:
        pdu_type, _, length = struct.unpack(">BBI", self._read(6))
        return pdu_type, length

    def _read_whole(self, length: int) -> bytes:
        if length > MAX_CONTROL_PDU:
            raise _ProtocolError(f"a {length}-byte control PDU", INVALID_PARAMETER)
        return bytes(self._read(length))

    # --- the association ---
    def run(self) -> None:
        assoc = self.assoc
        try:
            assoc.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            timeout = self.listener.limits.associate_timeout if self.listener else ASSOCIATE_TIMEOUT
            self.deadline = time.monotonic() + timeout
            if not self._negotiate():
                return
            self.deadline = None
            _set_timeout(assoc.sock, NETWORK_TIMEOUT)
            self._serve()
        except TimeoutError:
            log.warning("association from %s@%s timed out; aborting it", assoc.calling_ae, assoc.peer_address)
            self._try_send(_abort_pdu(SERVICE_USER, 0x00))
        except _ProtocolError as exc:
            log.warning(
                "association from %s@%s broke the protocol (%s); aborting it",
                assoc.calling_ae,
                assoc.peer_address,
                exc,
            )
            self._try_send(_abort_pdu(SERVICE_PROVIDER, exc.reason))
        except Closed:
            pass
        except Exception:  # a bug must not take the listener down: abort this association only
            log.exception("association from %s@%s failed; aborting it", assoc.calling_ae, assoc.peer_address)
            self._try_send(_abort_pdu(SERVICE_USER, 0x00))
        finally:
            if self.instance is not None:
                self.instance.discard()  # an instance cut off mid-way is never kept
                self.instance = None
            if assoc.established:
                self.events.closed(assoc)

    def _try_send(self, data: bytes) -> None:
        try:
            self.assoc.sock.sendall(data)
        except OSError:
            pass

    def _negotiate(self) -> bool:
        """Read the A-ASSOCIATE-RQ and accept or reject it; True when the association is established."""
        assoc = self.assoc
        pdu_type, length = self._read_pdu_header()
        if pdu_type == A_ABORT_TYPE:
            raise Closed("aborted before association")
        if pdu_type != A_ASSOCIATE_RQ_TYPE:
            raise _ProtocolError(f"PDU type {pdu_type:#04x} before A-ASSOCIATE-RQ")
        body = self._read_whole(length)
        if len(body) < _FIXED_FIELDS:
            raise _ProtocolError("a truncated A-ASSOCIATE-RQ", INVALID_PARAMETER)
        # The fixed fields (protocol version, called and calling AE titles) are read here; the items
        # (presentation contexts, user information) are negotiated once per distinct list of items
        assoc.called_ae = body[4:20].decode("ascii", "replace").strip()
        assoc.calling_ae = body[20:36].decode("ascii", "replace").strip()
        negotiated = _negotiations.get(body[_FIXED_FIELDS:]) or _negotiate_items(pdu_type, length, body)
        assoc.peer_max_pdu = negotiated.peer_max_pdu

        rejection = self.events.requested(assoc)
        if rejection is None and self.listener is not None and not self.listener.admit(assoc):
            log.warning(
                "rejected association from %s@%s: too many associations", assoc.calling_ae, assoc.peer_address
            )
            rejection = REJECT_BUSY
        if rejection is not None:
            self._send(_reject_pdu(*rejection))
            return False

        assoc.contexts = dict(negotiated.contexts)
        # protocol version 1, the AE titles as received (PS3.8 9.3.3), then the negotiated items
        fixed = b"\x00\x01\x00\x00" + body[4:36] + bytes(32)
        items = negotiated.reply_items
        self._send(struct.pack(">BBI", 0x02, 0, len(fixed) + len(items)) + fixed + items)
        assoc.established = True
        return True

    def _serve(self) -> None:
        """The data phase: P-DATA until the peer releases or aborts."""
        while True:
            pdu_type, length = self._read_pdu_header()
            if pdu_type == P_DATA_TF_TYPE:
                self._p_data(length)
            elif pdu_type == A_RELEASE_RQ_TYPE:
                self._read_whole(length)
                if self.instance is not None:
                    raise _ProtocolError("A-RELEASE-RQ in the middle of a C-STORE")
                self._send(A_RELEASE_RP().encode())
                self.assoc.released = True
                raise Closed("released")
            elif pdu_type == A_ABORT_TYPE:
                raise Closed("aborted by the peer")
            elif pdu_type in (0x02, 0x03, 0x06, A_ASSOCIATE_RQ_TYPE):
                raise _ProtocolError(f"PDU type {pdu_type:#04x} during the association")
            else:
                raise _ProtocolError(f"unknown PDU type {pdu_type:#04x}", UNRECOGNIZED_PDU)

    def _p_data(self, length: int) -> None:
        remaining = length
        while remaining > 0:
            if remaining < 6:
                raise _ProtocolError("a P-DATA-TF PDU with a truncated item", INVALID_PARAMETER)
            item_length, context_id, control = struct.unpack(">IBB", self._read(6))
            if item_length < 2 or item_length + 4 > remaining:
                raise _ProtocolError("a P-DATA-TF item longer than its PDU", INVALID_PARAMETER)
            remaining -= item_length + 4
            if context_id not in self.assoc.contexts:
                raise _ProtocolError(f"presentation context {context_id} was not accepted", INVALID_PARAMETER)
            data_length = item_length - 2
            if control & 0x01:
                self._command_fragment(context_id, control, data_length)
            else:
                self._data_fragment(context_id, control, data_length)

    def _command_fragment(self, context_id: int, control: int, length: int) -> None:
        if self.request is not None or len(self.command) + length > MAX_COMMAND:
            raise _ProtocolError("an unexpected command fragment")
        self.command += self._read(length)
        if not control & 0x02:
            return
        try:
            command = dimse.parse_command(self.command)
        except InvalidDicom as exc:
            raise _ProtocolError(str(exc), INVALID_PARAMETER) from None
        self.command = bytearray()
        field = dimse.command_int(command, dimse.COMMAND_FIELD)
        has_data = dimse.command_int(command, dimse.COMMAND_DATA_SET_TYPE) != dimse.NO_DATA_SET
        if field == dimse.C_ECHO_RQ and not has_data:
            self._respond(context_id, command, self.events.echo(self.assoc))
        elif field == dimse.C_STORE_RQ and has_data:
            self.request, self.request_context = command, context_id
            self.instance = self.events.open_instance(self.assoc, command, self.assoc.contexts[context_id])
        else:
            raise _ProtocolError(
                f"unsupported DIMSE command {field:#06x}" if field else "a command without a field"
            )

    def _data_fragment(self, context_id: int, control: int, length: int) -> None:
        if self.request is None or context_id != self.request_context:
            raise _ProtocolError("a data set fragment without its C-STORE-RQ")
        instance = self.instance
        self._stream(length, instance)  # type: ignore[arg-type]  # set with self.request
        if control & 0x02:
            request, self.request, self.instance = self.request, None, None
            status = self.events.store(self.assoc, instance)  # type: ignore[arg-type]
            self._respond(context_id, request, status)

    def _respond(self, context_id: int, request: dict[int, bytes], status: int) -> None:
        data = dimse.response(request, status)
        room = self.assoc.peer_max_pdu - 6 if self.assoc.peer_max_pdu else len(data)
        room = max(room, 1)
        pieces = [data[start : start + room] for start in range(0, len(data), room)]
        out = bytearray()
        for index, piece in enumerate(pieces):
            control = 0x03 if index == len(pieces) - 1 else 0x01
            out += struct.pack(
                ">BBIIBB", P_DATA_TF_TYPE, 0, len(piece) + 6, len(piece) + 2, context_id, control
            )
            out += piece
        self._send(bytes(out))


class Listener(socketserver.ThreadingTCPServer):
    """Accepts connections on one port and runs each association in its own thread.

    With `reuse_port` several processes share the port (SO_REUSEPORT): the kernel spreads the
    associations over them.
    """

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        events: Events,
        *,
        reuse_port: bool = False,
        limits: Limits | None = None,
    ):
        self.events, self.reuse_port = events, reuse_port
        self.limits = limits or Limits()
        self.port = address[1]
        self._active: set[AssociationLoop] = set()
        self._peers: dict[str, int] = {}  # connections open per address
        self._associations = 0  # association slots taken
        self._refused_logged = 0.0
        self._lock = threading.Lock()
        super().__init__(address, socketserver.BaseRequestHandler)
        self.port = self.server_address[1]

    def server_bind(self) -> None:
        if self.reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def admit(self, assoc: Association) -> bool:
        """Give `assoc` an association slot if one is free for it (the reserved ones: only if trusted)."""
        limits = self.limits
        room = limits.max_associations if assoc.trusted else limits.max_associations - limits.reserved
        with self._lock:
            if self._associations >= room:
                return False
            self._associations += 1
        assoc.admitted = True
        return True

    def verify_request(self, request, client_address) -> bool:
        """Take a new connection unless its address already holds `per_peer` (it is closed at once)."""
        address = _address(client_address)
        with self._lock:
            count = self._peers.get(address, 0)
            if count >= self.limits.per_peer:
                now = time.monotonic()
                if now - self._refused_logged > 10:  # one line per 10 s, however many are refused
                    self._refused_logged = now
                    log.warning("closed a connection from %s: it already holds %d", address, count)
                return False
            self._peers[address] = count + 1
        return True

    def finish_request(self, request, client_address) -> None:
        address = _address(client_address)
        loop = AssociationLoop(Association(request, address, self.port), self.events, self)
        with self._lock:
            self._active.add(loop)
        try:
            loop.run()
        finally:
            with self._lock:
                self._active.discard(loop)
                self._associations -= loop.assoc.admitted
                left = self._peers.get(address, 1) - 1
                if left > 0:
                    self._peers[address] = left
                else:
                    self._peers.pop(address, None)

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name=f"receiver:{self.port}", daemon=True)
        thread.start()
        return thread

    def close(self, grace: float = 0.0) -> None:
        """Stop accepting; abort the associations still open after `grace` seconds."""
        self.shutdown()
        self.server_close()
        deadline = time.monotonic() + grace
        while grace and time.monotonic() < deadline:
            with self._lock:
                if not self._active:
                    break
            time.sleep(0.05)
        with self._lock:
            loops = list(self._active)
        for loop in loops:
            loop._try_send(_abort_pdu(SERVICE_USER, 0x00))
            try:
                loop.assoc.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _address(client_address) -> str:
    return client_address[0] if isinstance(client_address, tuple) else str(client_address)
