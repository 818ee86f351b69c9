"""Dry run: apply a script to a copy of a dataset and list, per attribute, what it would change, and
every date, time and age before and after (what researchers will be able to sort and filter by)."""

import copy
from collections.abc import Mapping
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from .elements import element_text, is_sequence, sequence_items
from .evaluator import NO_SERVICES, RecordInfo, Script, Services

PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
DATE_VRS = frozenset({"DA", "DT", "TM", "AS"})


@dataclass(frozen=True)
class Change:
    """One attribute a script changes; ``before``/``after`` are None when it was absent/removed."""

    path: str
    keyword: str
    before: str | None
    after: str | None
    action: str  # "changed", "removed" or "added"


@dataclass(frozen=True)
class DateRow:
    """A top-level date, time, date-time or age element before and after; None when absent/removed."""

    path: str
    keyword: str
    vr: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Preview:
    """Everything a dry run shows."""

    changes: list[Change]
    dates: list[DateRow]
    echoes: list[str]
    warnings: list[str]


def preview(
    script: Script,
    ds: Dataset,
    variables: Mapping[str, str],
    *,
    record: RecordInfo | None = None,
    services: Services = NO_SERVICES,
) -> Preview:
    """What ``script`` would do to ``ds`` (left untouched): the changes, nested sequences and private tags
    included, and the top-level dates, times and ages before and after, changed or not."""
    after = copy.deepcopy(ds)
    result = script.apply(after, variables, record=record, services=services)
    changes: list[Change] = []
    _diff(ds, after, "", changes)
    return Preview(changes, _dates(ds, after), result.echoes, result.warnings)


def dry_run(
    script: Script, ds: Dataset, variables: Mapping[str, str], *, record: RecordInfo | None = None
) -> list[Change]:
    """Changes ``script`` would make to ``ds`` (left untouched), nested sequences and private tags included."""
    return preview(script, ds, variables, record=record).changes


def _dates(before: Dataset, after: Dataset) -> list[DateRow]:
    rows = []
    for tag in sorted(set(before.keys()) | set(after.keys())):
        elem = before[tag] if tag in before else after[tag]
        if elem.VR not in DATE_VRS:
            continue
        old = element_text(before[tag]) if tag in before else None
        new = element_text(after[tag]) if tag in after else None
        rows.append(DateRow(_tag_text(tag), keyword_for_tag(tag) or "", elem.VR, old, new))
    return rows


def _diff(before: Dataset, after: Dataset, prefix: str, changes: list[Change]) -> None:
    for tag in sorted(set(before.keys()) | set(after.keys())):
        path = prefix + _tag_text(tag)
        old_seq = is_sequence(before, tag) if tag in before else tag in after and is_sequence(after, tag)
        new_seq = is_sequence(after, tag) if tag in after else old_seq
        if old_seq and new_seq:  # report item by item, also when the whole sequence came or went
            old_items, new_items = sequence_items(before, tag), sequence_items(after, tag)
            for index in range(max(len(old_items), len(new_items))):
                old = old_items[index] if index < len(old_items) else Dataset()
                new = new_items[index] if index < len(new_items) else Dataset()
                _diff(old, new, f"{path}[{index}]/", changes)
            continue
        old_text = _shown(before[tag]) if tag in before else None
        new_text = _shown(after[tag]) if tag in after else None
        if old_text == new_text and (tag not in PIXEL_TAGS or before[tag].value == after[tag].value):
            continue
        if tag in PIXEL_TAGS and old_text is not None and new_text is not None:
            old_text, new_text = "<pixel data>", "<pixel data, changed>"
        action = "added" if old_text is None else "removed" if new_text is None else "changed"
        changes.append(Change(path, keyword_for_tag(tag) or "", old_text, new_text, action))


def _shown(elem: DataElement) -> str:
    """Text of a value for people: sequences as item counts, pixel and long binary data as a size."""
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} items>"
    if isinstance(elem.value, bytes) and (elem.tag in PIXEL_TAGS or len(elem.value) > 64):
        return f"<{len(elem.value)} bytes>"
    return element_text(elem)


def _tag_text(tag: int) -> str:
    tag = Tag(tag)
    return f"({tag.group:04X},{tag.element:04X})"
