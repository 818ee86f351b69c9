"""The receiver's own upper layer against other implementations: dcmtk's echoscu and storescu, and
pynetdicom as requestor with small PDUs and extended negotiation; protocol violations, timeouts and a
full house, over raw sockets where no well-behaved requestor would go."""

from __future__ import annotations

import dataclasses
import os
import select
import shutil
import socket
import struct
import subprocess
import time

import pydicom
import pytest
from pynetdicom import AE, build_role
from pynetdicom.dsutils import encode
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
    UserIdentityNegotiation,
)
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification

from dicom_receiver.models import Receiver
from dicomio import acceptor, dimse
from prearchive import intake
from prearchive.models import PrearchiveFile, PrearchiveSession
from tests.dicomgen import echo, make_study, pydicom_test_file, write_study
from tests.waiting import TIMEOUT, wait_for

needs_dcmtk = pytest.mark.skipif(
    not shutil.which("storescu"), reason="dcmtk (storescu, echoscu) is not installed"
)
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
# bundled files and the storescu option proposing their transfer syntax
COMPRESSED = {"JPEG2000.dcm": "-xw", "MR_small_RLE.dcm": "-xr", "JPEG-lossy.dcm": "-xx"}


def dcmtk(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=DCMTK_ENV, capture_output=True, text=True, timeout=60)


def queued() -> list:
    return sorted(intake.spool_root().glob("queue/*.dcm")) + sorted(intake.spool_root().glob("receiving/*"))


@needs_dcmtk
def test_dcmtk_echoscu_and_storescu(receiver, project_a, tmp_path):
    Receiver.objects.filter(pk=receiver.receiver.pk).update(anonymization_enabled=False)
    receiver.wait_reloaded()
    assert dcmtk("echoscu", "-aec", "XNATLITE", "127.0.0.1", str(receiver.port)).returncode == 0
    assert dcmtk("echoscu", "-aec", "NOBODY", "127.0.0.1", str(receiver.port)).returncode != 0

    study = make_study(n_series=2, n_instances=3, rows=256, cols=256, study_description="A")
    folder = tmp_path / "study"
    write_study(study, folder)
    # many small PDUs per instance
    result = dcmtk(
        "storescu", "-aet", "DCMTKSCU", "-aec", "XNATLITE", "--max-send-pdu", "4096", "+sd",
        "127.0.0.1", str(receiver.port), str(folder),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # compressed files, their transfer syntax proposed as it is (storescu cannot decompress them)
    for name, option in COMPRESSED.items():
        shutil.copy(pydicom_test_file(name), folder / name)
        result = dcmtk(
            "storescu", "-aet", "DCMTKSCU", "-aec", "XNATLITE", option, "127.0.0.1", str(receiver.port),
            str(folder / name),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    receiver.wait_processed()
    rows = {row.sop_instance_uid: row for row in PrearchiveFile.objects.all()}
    assert len(rows) == 6 + len(COMPRESSED)
    for path in folder.iterdir():
        sent = pydicom.dcmread(path)
        stored = pydicom.dcmread(rows[sent.SOPInstanceUID].absolute_path)
        assert stored.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
        assert stored.get("PixelData") == sent.get("PixelData")
        assert stored.file_meta.SourceApplicationEntityTitle == "DCMTKSCU"
        assert "ReceivingApplicationEntityTitle" not in stored.file_meta  # the spool's own note is gone
    assert queued() == []


def test_pynetdicom_with_tiny_pdus_roles_and_extended_negotiation(receiver, project_a):
    study = make_study(n_instances=3, study_description="A", modality="CT")
    ae = AE(ae_title="TINYPDU")
    ae.maximum_pdu_size = 64  # our C-STORE responses have to come in fragments
    ae.add_requested_context(CTImageStorage, study[0].file_meta.TransferSyntaxUID)
    ae.add_requested_context(MRImageStorage)
    ae.add_requested_context(Verification)
    async_ops = AsynchronousOperationsWindowNegotiation()
    async_ops.maximum_number_operations_invoked = async_ops.maximum_number_operations_performed = 5
    identity = UserIdentityNegotiation()
    identity.user_identity_type, identity.primary_field = 1, b"someone"
    identity.positive_response_requested = True
    roles = [build_role(CTImageStorage, scu_role=True, scp_role=False)]
    assoc = ae.associate(
        "127.0.0.1", receiver.port, ae_title="XNATLITE", ext_neg=[async_ops, identity, *roles]
    )
    assert assoc.is_established
    assert {cx.abstract_syntax for cx in assoc.accepted_contexts} == {
        CTImageStorage,
        MRImageStorage,
        Verification,
    }
    assert [int(assoc.send_c_store(ds).Status) for ds in study] == [0, 0, 0]
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()
    assert assoc.is_released
    receiver.wait_processed()
    assert PrearchiveSession.objects.get().file_count == 3


def associate_request(called_ae: str = "XNATLITE", max_pdu: int = 16384) -> bytes:
    primitive = A_ASSOCIATE()
    primitive.application_context_name = acceptor.APPLICATION_CONTEXT_NAME
    primitive.calling_ae_title, primitive.called_ae_title = "RAWSCU", called_ae
    context = build_context(MRImageStorage, ["1.2.840.10008.1.2.1"])
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = max_pdu
    class_uid = ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = "1.2.826.0.1.3680043.9.9999"
    primitive.user_information = [max_length, class_uid]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return pdu.encode()


def read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    header = b""
    while len(header) < 6:
        chunk = sock.recv(6 - len(header))
        if not chunk:
            return 0, b""
        header += chunk
    pdu_type, _, length = struct.unpack(">BBI", header)
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return pdu_type, body


def connect(receiver, *, associate: bool) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", receiver.port), timeout=TIMEOUT)
    if associate:
        sock.sendall(associate_request())
        assert read_pdu(sock)[0] == 0x02  # A-ASSOCIATE-AC
    return sock


def p_data(context_id: int, control: int, data: bytes) -> bytes:
    return struct.pack(">BBIIBB", 0x04, 0, len(data) + 6, len(data) + 2, context_id, control) + data


def store_request_fragments(ds) -> tuple[bytes, bytes]:
    request = pydicom.Dataset()
    request.AffectedSOPClassUID = ds.SOPClassUID
    request.CommandField = dimse.C_STORE_RQ
    request.MessageID = 1
    request.Priority = 0
    request.CommandDataSetType = 0
    request.AffectedSOPInstanceUID = ds.SOPInstanceUID
    return encode(request, True, True), b"\x08\x00" * 500


@pytest.mark.parametrize(
    "associated, payload, reason",
    [
        (False, struct.pack(">BBI", 0x09, 0, 4) + b"junk", acceptor.UNEXPECTED_PDU),
        (False, struct.pack(">BBI", 0x01, 0, 12) + b"\x00" * 12, acceptor.INVALID_PARAMETER),
        (True, struct.pack(">BBI", 0x09, 0, 4) + b"junk", acceptor.UNRECOGNIZED_PDU),
        (True, associate_request(), acceptor.UNEXPECTED_PDU),
        (True, p_data(3, 0x03, b"\x00" * 8), acceptor.INVALID_PARAMETER),  # a context never proposed
        (True, p_data(1, 0x02, b"\x00" * 8), acceptor.UNEXPECTED_PDU),  # data without a command
    ],
)
def test_protocol_violations_are_aborted(receiver, associated, payload, reason):
    with connect(receiver, associate=associated) as sock:
        sock.sendall(payload)
        pdu_type, body = read_pdu(sock)
        assert (pdu_type, body[2:4]) == (0x07, bytes([acceptor.SERVICE_PROVIDER, reason]))  # A-ABORT
        assert read_pdu(sock) == (0, b"")  # and the connection closed
    assert echo_works(receiver)


def test_a_release_in_the_middle_of_an_instance_aborts_it_and_keeps_nothing(receiver):
    ds = make_study(n_instances=1)[0]
    command, data = store_request_fragments(ds)
    with connect(receiver, associate=True) as sock:
        sock.sendall(p_data(1, 0x03, command) + p_data(1, 0x00, data))
        sock.sendall(struct.pack(">BBI", 0x05, 0, 4) + b"\0\0\0\0")  # A-RELEASE-RQ
        assert read_pdu(sock)[0] == 0x07
        assert read_pdu(sock) == (0, b"")  # closed: the association is over, its clean-up done
    assert queued() == []


def limit(receiver, **changes) -> None:
    """Change the limits of the receiver's listener (read as each connection comes)."""
    listener = receiver.service.servers[receiver.port]
    listener.limits = dataclasses.replace(listener.limits, **changes)


def test_a_connection_without_an_association_request_is_closed(receiver):
    limit(receiver, associate_timeout=0.3)
    with connect(receiver, associate=False) as sock:
        started = time.monotonic()
        assert read_pdu(sock)[0] in (0x07, 0)  # aborted, or simply closed
        assert time.monotonic() - started < 5  # the subject is the timeout: 0.3 s here, not the 30 s default


def test_a_silent_association_is_aborted_after_the_network_timeout(receiver, monkeypatch):
    monkeypatch.setattr(acceptor, "NETWORK_TIMEOUT", 0.3)
    ds = make_study(n_instances=1)[0]
    command, data = store_request_fragments(ds)
    with connect(receiver, associate=True) as sock:
        sock.sendall(p_data(1, 0x03, command) + p_data(1, 0x00, data))  # then nothing more
        pdu_type, body = read_pdu(sock)
        assert (pdu_type, body[2]) == (0x07, acceptor.SERVICE_USER)
        assert read_pdu(sock) == (0, b"")  # closed: the association is over, its clean-up done
    assert queued() == []  # the instance cut short is not kept


def test_a_full_house_is_rejected_as_busy(receiver):
    limit(receiver, max_associations=1, reserved=0)
    first = AE(ae_title="FIRST")
    first.add_requested_context(Verification)
    held = first.associate("127.0.0.1", receiver.port, ae_title="XNATLITE")
    assert held.is_established
    with connect(receiver, associate=False) as sock:
        sock.sendall(associate_request())
        pdu_type, body = read_pdu(sock)
        assert (pdu_type, tuple(body[1:4])) == (0x03, acceptor.REJECT_BUSY)  # A-ASSOCIATE-RJ, transient
    held.release()
    assert echo_works(receiver)


def test_a_request_trickling_in_is_cut_off_when_its_time_is_up(receiver):
    """A byte every 50 ms keeps each read within any timeout; the request still has 0.5 s in all."""
    limit(receiver, associate_timeout=0.5)
    request = associate_request()
    with connect(receiver, associate=False) as sock:
        sent = 0
        try:
            for byte in request:  # bounded: the request is a few hundred bytes, 50 ms apart
                sock.sendall(bytes([byte]))
                sent += 1
                if select.select([sock], [], [], 0.05)[0]:
                    break  # the receiver answered: an A-ABORT, or closed
        except OSError:
            pass  # closed under us
        assert sent < len(request), "the whole request went in: nothing cut it off"
        assert read_pdu(sock)[0] in (0x07, 0)  # aborted, or simply closed


def test_one_address_holds_at_most_per_peer_connections(receiver):
    limit(receiver, per_peer=2)
    held = [connect(receiver, associate=False) for _ in range(2)]
    try:
        wait_for(lambda: receiver.service.servers[receiver.port]._peers.get("127.0.0.1") == 2, what="2 held")
        with connect(receiver, associate=False) as third:
            assert read_pdu(third) == (0, b"")  # closed at once: the address holds its two
    finally:
        for sock in held:
            sock.close()
    wait_for(echo_works_for(receiver), what="the address to get its connections back")


def echo_works_for(receiver):
    return lambda: echo_works(receiver)


def test_the_reserved_slots_are_for_senders_on_a_whitelist(receiver):
    Receiver.objects.create(ae_title="SECURE", port=receiver.port, whitelist="TRUSTED@127.0.0.1")
    receiver.wait_reloaded()
    limit(receiver, max_associations=2, reserved=1)
    first = AE(ae_title="FIRST")
    first.add_requested_context(Verification)
    held = first.associate("127.0.0.1", receiver.port, ae_title="XNATLITE")
    assert held.is_established  # the one slot for everyone
    try:
        assert echo(receiver.port) is None  # the next one is only for the whitelist: rejected, busy
        trusted = AE(ae_title="TRUSTED")
        trusted.add_requested_context(Verification)
        assoc = trusted.associate("127.0.0.1", receiver.port, ae_title="SECURE")
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0
        assoc.release()
    finally:
        held.release()
    assert echo_works(receiver)


def echo_works(receiver) -> bool:
    from tests.dicomgen import echo

    return echo(receiver.port) == 0


def test_a_request_seen_before_is_negotiated_from_memory_with_the_same_answer(receiver, monkeypatch):
    """Senders propose the same items every time: the second association gets the same A-ASSOCIATE-AC
    (its AE titles as sent) without pynetdicom decoding the request again, and is still checked."""
    acceptor._negotiations.clear()
    decoded = []
    decode = A_ASSOCIATE_RQ.decode

    def counting(self, data):
        decoded.append(len(data))
        return decode(self, data)

    monkeypatch.setattr(A_ASSOCIATE_RQ, "decode", counting)
    answers = []
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=TIMEOUT) as sock:
            sock.sendall(associate_request())
            answers.append(read_pdu(sock))
    assert len(decoded) == 1
    assert answers[0] == answers[1] and answers[0][0] == 0x02
    body = answers[0][1]
    assert body[:4] == b"\x00\x01\x00\x00" and body[4:36] == b"XNATLITE".ljust(16) + b"RAWSCU".ljust(16)
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=TIMEOUT) as sock:
        sock.sendall(associate_request(called_ae="NOBODY"))  # the same items, another AE title
        assert read_pdu(sock)[0] == 0x03  # A-ASSOCIATE-RJ
    assert len(decoded) == 1

    monkeypatch.setattr(acceptor, "NEGOTIATION_KEPT_BYTES", 16)  # a request too long to remember
    acceptor._negotiations.clear()
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=TIMEOUT) as sock:
            sock.sendall(associate_request())
            assert read_pdu(sock) == answers[0]
    assert len(decoded) == 3 and not acceptor._negotiations
