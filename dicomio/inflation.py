"""Deflated data sets (Deflated Explicit VR Little Endian, PS3.5 A.5) inflated with a bound, before
pydicom inflates them whole in memory: a megabyte of deflate stream can hold a gigabyte of zeros
(issue 14 item 4), which drove a spool worker to 1.8 GB of memory.

`check_deflated` inflates the stream piece by piece (zlib's `max_length`), keeping nothing but a count,
and refuses it (InvalidDicom, so the receiver quarantines it and an upload reports it) once it grows
past `inflated_limit`: the ratio uploaded archives may grow by (`XNATLITE_UPLOAD_MAX_RATIO`) beyond a
first FREE_BYTES, never past `XNATLITE_INFLATED_MAX_BYTES` (the site's figures, given by
`use_limits`: prearchive/apps.py). Its memory is a few pieces whatever the
stream holds; an instance within the bound is then read by pydicom as before.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pydicom.filereader import _read_file_meta_info, read_preamble

from dicomio.errors import InvalidDicom

DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
PIECE = 1 << 20  # bytes read and inflated at a time
# Any deflated instance may inflate to this much, whatever its ratio: a blank image deflates 1000:1.
FREE_BYTES = 16 << 20


def _default_limits() -> tuple[int, int]:
    return 200, 256 << 20


_limits: Callable[[], tuple[int, int]] = _default_limits


def use_limits(limits: Callable[[], tuple[int, int]]) -> None:
    """Where the bounds come from: a function answering (ratio, absolute cap in bytes), asked each time."""
    global _limits
    _limits = limits


def inflated_limit(deflated_bytes: int) -> int:
    """The most a deflate stream of `deflated_bytes` may inflate to."""
    ratio, cap = _limits()
    return min(cap, max(FREE_BYTES, ratio * deflated_bytes))


def inflated_size(source: BinaryIO, deflated_bytes: int, limit: int) -> int:
    """Inflate the raw deflate stream `source` holds (`deflated_bytes` long), counting and discarding;
    InvalidDicom once it passes `limit` bytes or when it is not a deflate stream."""
    total = 0
    try:
        for piece in _inflate(source):
            total += len(piece)
            if total > limit:
                raise InvalidDicom(
                    f"The deflated data set inflates to more than {limit} bytes "
                    f"({deflated_bytes} bytes deflated); refused as a deflate bomb"
                )
    except zlib.error as exc:
        raise InvalidDicom(f"The deflated data set is not a deflate stream: {exc}") from None
    return total


def _inflate(source: BinaryIO) -> Iterator[bytes]:
    """The inflated stream in pieces of at most PIECE bytes."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as PS3.5 A.5 writes it
    while not inflater.eof:
        data = source.read(PIECE)
        if not data:  # the end of the input (maybe cut short): what zlib still owes
            while piece := inflater.decompress(b"", PIECE):
                yield piece
            return
        while data:  # what does not fit in one piece waits in unconsumed_tail, not inflated
            yield inflater.decompress(data, PIECE)
            data = inflater.unconsumed_tail


def check_deflated(source: Path | str | BinaryIO) -> None:
    """Refuse a Part 10 file whose data set is deflated and would inflate past `inflated_limit`
    (InvalidDicom); anything else passes untouched (a stream is left where it was)."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fp:
            _check(fp)
        return
    start = source.tell()
    try:
        _check(source)
    finally:
        source.seek(start)


def _check(fp: BinaryIO) -> None:
    try:
        read_preamble(fp, force=True)
        meta = _read_file_meta_info(fp)
    except Exception:  # not Part 10, or a meta pydicom cannot read: it is not a deflated instance
        return
    if str(meta.get("TransferSyntaxUID", "")) != DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        return
    start = fp.tell()
    deflated_bytes = fp.seek(0, os.SEEK_END) - start
    fp.seek(start)
    inflated_size(fp, deflated_bytes, inflated_limit(deflated_bytes))
