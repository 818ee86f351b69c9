"""Presentation contexts in a transfer syntax we cannot read are refused at negotiation (issue 14 item 12)."""

from __future__ import annotations

from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage
from pynetdicom import AE
from pynetdicom.presentation import PresentationContext

from dicom_receiver.models import QuarantinedInstance
from dicomio import contexts
from prearchive.models import PrearchiveFile
from tests.dicomgen import make_study

MADE_UP = "1.2.840.10008.1.2.1.999"


def _context(context_id: int, *syntaxes: str) -> PresentationContext:
    context = PresentationContext()
    context.context_id, context.abstract_syntax, context.transfer_syntax = (
        context_id,
        MRImageStorage,
        list(syntaxes),
    )
    return context


def test_it_keeps_only_readable_syntaxes_and_refuses_contexts_left_with_none():
    usable, refused = contexts.restrict([_context(1, MADE_UP), _context(3, MADE_UP, ExplicitVRLittleEndian)])
    assert [(cx.context_id, cx.transfer_syntax) for cx in usable] == [(3, [ExplicitVRLittleEndian])]
    assert [(cx.context_id, cx.result) for cx in refused] == [(1, contexts.TRANSFER_SYNTAXES_NOT_SUPPORTED)]


def test_the_receiver_refuses_a_made_up_syntax_and_stores_in_a_readable_one(receiver, project_a):
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(MRImageStorage, [MADE_UP])
    ae.add_requested_context(MRImageStorage, [MADE_UP, ExplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="XNATLITE")
    assert assoc.is_established
    try:
        refused = {cx.context_id: cx.result for cx in assoc.rejected_contexts}
        accepted = {cx.context_id: cx.transfer_syntax[0] for cx in assoc.accepted_contexts}
        assert refused == {1: contexts.TRANSFER_SYNTAXES_NOT_SUPPORTED}  # "transfer syntaxes not supported"
        assert accepted == {3: ExplicitVRLittleEndian}
        status = assoc.send_c_store(make_study(n_instances=1, study_description="A")[0])
        assert status.Status == 0x0000
    finally:
        assoc.release()
    receiver.wait_processed()
    assert PrearchiveFile.objects.count() == 1  # kept, in the syntax we can read
    assert not QuarantinedInstance.objects.exists()  # nothing acknowledged and then quarantined
