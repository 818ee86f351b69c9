"""A bare pynetdicom C-STORE SCP that only writes each received data set to a file: the baseline of
bench/receiver.py for what pynetdicom itself costs. Usage: bare_scp.py PORT OUTPUT_DIR"""

import signal
import sys
from pathlib import Path

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

MAX_PDU_SIZE = 1 << 20  # as xnatlite's receiver


def main() -> None:
    port, out = int(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)

    def handle_store(event):
        with open(out / event.request.AffectedSOPInstanceUID, "wb") as fh:
            fh.write(event.encoded_dataset())
        return 0x0000

    ae = AE(ae_title="BARE")
    ae.maximum_pdu_size = MAX_PDU_SIZE
    ae.maximum_associations = 64
    ae.supported_contexts = AllStoragePresentationContexts
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, handle_store)])
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.shutdown()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
