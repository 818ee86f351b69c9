"""A receiver running in a thread of the test process on a free loopback port, sharing the test DB."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import pytest

from dicom_receiver.models import Receiver
from dicom_receiver.server import ReceiverService, run_receiver
from prearchive import intake
from tests.dicomgen import echo
from xnatlite import cache


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningReceiver:
    port: int
    receiver: Receiver
    service: ReceiverService
    stop: threading.Event

    def wait_processed(self, timeout: float = 30) -> None:
        """Wait until the spool workers processed every instance acknowledged so far."""
        assert intake.wait_until_processed(time.time(), timeout), "the spool was not processed"

    def wait_reloaded(self) -> None:
        """Wait for one more configuration reload (the loop re-reads every 0.1 s in tests); the spool
        workers read the receiver's configuration again too."""
        cache.forget_all()
        before = self.service.reloads
        deadline = threading.Event()
        for _ in range(100):
            if self.service.reloads >= before + 2:
                return
            deadline.wait(0.05)
        raise AssertionError("the receiver did not reload its configuration")


@pytest.fixture
def receiver(transactional_db, data_root, settings):
    """The XNATLITE receiver on a free port, with one spool worker; the service re-reads its
    configuration every 0.1 s."""
    port = free_port()
    config = Receiver.objects.create(ae_title="XNATLITE", port=port)
    stop = threading.Event()
    ready = threading.Event()
    box = {}

    def on_ready(service):
        box["service"] = service
        ready.set()

    thread = threading.Thread(
        target=run_receiver,
        args=(stop,),
        kwargs={"host": "127.0.0.1", "reload_seconds": 0.1, "workers": 1, "on_ready": on_ready},
        daemon=True,
    )
    thread.start()
    assert ready.wait(15), "receiver did not start"
    assert echo(port) == 0x0000
    yield RunningReceiver(port, config, box["service"], stop)
    stop.set()
    thread.join(15)
