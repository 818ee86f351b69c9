"""A receiver running in a thread of the test process on a free loopback port, sharing the test DB."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from dicom_receiver.models import Receiver
from dicom_receiver.server import ReceiverService, run_receiver
from prearchive import intake
from tests.dicomgen import echo
from tests.ports import reserved_port
from tests.waiting import TIMEOUT, wait_for
from xnatlite import cache


@dataclass
class RunningReceiver:
    port: int
    receiver: Receiver
    service: ReceiverService
    stop: threading.Event

    def wait_processed(self, timeout: float = TIMEOUT) -> None:
        """Wait until the spool workers processed every instance acknowledged so far."""
        assert intake.wait_until_processed(time.time(), timeout), "the spool was not processed"

    def wait_reloaded(self) -> None:
        """Wait for one more configuration reload (the loop re-reads every 0.1 s in tests): the second
        reload from now started after this call. The spool workers read the receiver's configuration
        again too."""
        cache.forget_all()
        before = self.service.reloads
        wait_for(lambda: self.service.reloads >= before + 2, what="the receiver to reload its configuration")


@pytest.fixture
def receiver(transactional_db, data_root, settings):
    """The XNATLITE receiver on a free port, with one spool worker; the service re-reads its
    configuration every 0.1 s. The port stays reserved while it runs (tests/ports.py): the receiver
    shares it with SO_REUSEPORT, as `manage.py dicom_receiver` does."""
    with reserved_port() as port:
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
            kwargs={
                "host": "127.0.0.1",
                "reuse_port": True,
                "reload_seconds": 0.1,
                "workers": 1,
                "on_ready": on_ready,
            },
            daemon=True,
        )
        thread.start()
        wait_for(lambda: ready.is_set() or not thread.is_alive(), what="the receiver to start")
        assert ready.is_set(), "the receiver thread died"
        assert port in box["service"].servers, f"the receiver could not listen on {port}"
        assert echo(port) == 0x0000
        yield RunningReceiver(port, config, box["service"], stop)
        stop.set()
        thread.join(TIMEOUT)
