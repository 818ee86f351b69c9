"""Dry run: apply a script to a copy of a dataset and list, per attribute, what it would change."""

import copy
from collections.abc import Mapping
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from .elements import element_text, is_sequence, sequence_items
from .evaluator import RecordInfo, Script

PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})


@dataclass(frozen=True)
class Change:
    """One attribute a script changes; ``before``/``after`` are None when it was absent/removed."""

    path: str
    keyword: str
    before: str | None
    after: str | None
    action: str  # "changed", "removed" or "added"


def dry_run(
    script: Script, ds: Dataset, variables: Mapping[str, str], *, record: RecordInfo | None = None
) -> list[Change]:
    """Changes ``script`` would make to ``ds`` (left untouched), nested sequences and private tags included."""
    after = copy.deepcopy(ds)
    script.apply(after, variables, record=record)
    changes: list[Change] = []
    _diff(ds, after, "", changes)
    return changes


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
