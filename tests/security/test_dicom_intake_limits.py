"""Issue 14 item 7: 70 TCP connections that never send an A-ASSOCIATE-RQ refused real senders for 30 s,
and 64 slow senders refused them for 60 s, again and again. Now a connection has a short time in all
for its request and takes no association slot until it asks, one address holds at most so many
connections, and the last slots are kept for senders on a receiver's whitelist. Attackers connect
from other loopback addresses (127.0.0.2...), the real senders from 127.0.0.1."""

from __future__ import annotations

import select
import socket

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from dicom_receiver.models import Receiver
from prearchive.models import PrearchiveFile
from tests.dicomgen import make_study, send_datasets
from tests.security.conftest import BOUND
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


def connect_from(source: str, port: int) -> socket.socket:
    """A TCP connection that never says anything."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(BOUND)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed it (what it sent before, an A-ABORT, is read and dropped)."""
    while select.select([sock], [], [], 0)[0]:
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except BlockingIOError:
            return False
    return False


def test_idle_connections_neither_keep_a_real_sender_out_nor_stay(start_live, project_a):
    live = start_live(XNATLITE_DICOM_ASSOCIATE_TIMEOUT="5")
    # 70 connections from 7 addresses (10 each, under the 16 one address may hold): all taken
    idle = [connect_from(f"127.0.0.{2 + n // 10}", live.dicom_port) for n in range(70)]
    # 30 more from one address: beyond its 16, closed as they come
    greedy = [connect_from("127.0.0.20", live.dicom_port) for _ in range(30)]
    try:
        # a real sender is served while they are all open: its study is kept
        assert send_datasets(live.dicom_port, make_study(n_instances=2, study_description="A")) == [0, 0]
        wait_for(lambda: PrearchiveFile.objects.count() == 2, what="the real study", timeout=BOUND)
        # the greedy address's extra connections were closed without waiting for the timeout
        wait_for(
            lambda: sum(closed_by_server(s) for s in greedy) >= 14 or None,
            what="the connections beyond 16 from one address to be closed",
            timeout=BOUND,
        )
        # and every connection that never asked is closed after its 5 s
        wait_for(
            lambda: all(closed_by_server(s) for s in idle + greedy),
            what="the idle connections to be closed",
            timeout=BOUND,
        )
    finally:
        for sock in idle + greedy:
            sock.close()


def associate(port: int, calling_ae: str, called_ae: str, source: str = "127.0.0.1"):
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = BOUND
    return ae.associate("127.0.0.1", port, ae_title=called_ae, bind_address=(source, 0))


def test_senders_holding_every_slot_leave_room_for_the_whitelisted_scanner(start_live, project_a):
    live = start_live(
        XNATLITE_DICOM_MAX_ASSOCIATIONS="12",
        XNATLITE_DICOM_RESERVED_ASSOCIATIONS="4",
        XNATLITE_DICOM_MAX_PER_PEER="4",
    )
    Receiver.objects.create(ae_title="SECURE", port=live.dicom_port, whitelist="SCANNER@127.0.0.1")

    def secure_answers() -> bool:
        assoc = associate(live.dicom_port, "SCANNER", "SECURE")
        established = assoc.is_established
        if established:
            assoc.release()
        return established

    wait_for(secure_answers, what="serve to load the SECURE receiver", timeout=BOUND, poll=0.5)

    # slow senders: 5 associations from each of 4 addresses, held open and sending nothing
    held = [associate(live.dicom_port, "SLOW", "XNATLITE", f"127.0.0.{2 + n // 5}") for n in range(20)]
    try:
        established = [a for a in held if a.is_established]
        assert len(established) == 8  # 12 less the 4 reserved; each address got at most 4 tries in
        # anyone else now gets A-ASSOCIATE-RJ (transient, busy)...
        other = associate(live.dicom_port, "OTHER", "XNATLITE")
        assert other.is_rejected
        # ...but the scanner on SECURE's whitelist stores its study, which is kept
        statuses = send_datasets(
            live.dicom_port,
            make_study(n_instances=2, study_description="A"),
            called_ae="SECURE",
            calling_ae="SCANNER",
        )
        assert statuses == [0, 0]
        wait_for(lambda: PrearchiveFile.objects.count() == 2, what="the scanner's study", timeout=BOUND)
    finally:
        for assoc in held:
            if assoc.is_established:
                assoc.release()

    # once the slow senders leave, everyone is served again
    def other_answers() -> bool:
        assoc = associate(live.dicom_port, "OTHER", "XNATLITE")
        established = assoc.is_established
        if established:
            assoc.release()
        return established

    wait_for(other_answers, what="the slots to be free", timeout=BOUND, poll=0.2, log=live.server.log)
