"""Presentation contexts we can take (issue 14 item 12): a proposed context keeps only the transfer
syntaxes whose data sets we can read and store (dicomio/transfer_syntaxes.py); a context left with
none is refused at negotiation with "transfer syntaxes not supported" (PS3.8 9.3.3.2), so the sender
learns at once, instead of an instance answered with success and quarantined later.
"""

from __future__ import annotations

from pynetdicom.presentation import PresentationContext

from dicomio.transfer_syntaxes import readable

TRANSFER_SYNTAXES_NOT_SUPPORTED = 0x04


def restrict(
    proposed: list[PresentationContext],
) -> tuple[list[PresentationContext], list[PresentationContext]]:
    """(the proposed contexts with only the transfer syntaxes we can read, those with none refused: each
    a result for the A-ASSOCIATE-AC)."""
    usable, refused = [], []
    for context in proposed:
        syntaxes = [uid for uid in context.transfer_syntax if readable(uid)]
        if syntaxes:
            if len(syntaxes) != len(context.transfer_syntax):
                kept = PresentationContext()
                kept.context_id, kept.abstract_syntax = context.context_id, context.abstract_syntax
                kept.transfer_syntax = list(syntaxes)
                context = kept
            usable.append(context)
            continue
        result = PresentationContext()
        result.context_id, result.abstract_syntax = context.context_id, context.abstract_syntax
        result.transfer_syntax = context.transfer_syntax[:1]  # type: ignore[assignment]  # a setter taking UIDs
        result.result = TRANSFER_SYNTAXES_NOT_SUPPORTED
        refused.append(result)
    return usable, refused
