"""Compiled tag paths: element matchers (exact, wildcard, private creator) and sequence steps.

A path is compiled once per script; resolving it against a dataset only looks up keys, and it decodes a
sequence only when the path has to look inside it (xnat-spec.md §6.4, "Tags" and "Sequences / tag paths").
"""

from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .elements import is_sequence, sequence_items

# A function that lists every item dataset below a container, with its depth (1 = item of a top-level
# sequence). The evaluator passes one that caches the walk of the whole dataset.
ItemWalker = Callable[[Dataset], list[tuple[int, Dataset]]]


def _mask(digits: str) -> tuple[int, int]:
    """Mask and value for hex digits where X is any digit, # an odd one and @ an even one."""
    mask = value = 0
    for ch in digits:
        mask, value = mask << 4, value << 4
        if ch == "#":
            mask, value = mask | 1, value | 1
        elif ch == "@":
            mask |= 1
        elif ch != "X":
            mask, value = mask | 0xF, value | int(ch, 16)
    return mask, value


class ElementMatcher:
    """Which elements of one dataset a tag names."""

    text: str

    def find(self, ds: Dataset) -> list[int]:
        """Tags of the existing elements of ``ds`` that this matcher names."""
        raise NotImplementedError

    def target(self, ds: Dataset) -> int | None:
        """The tag an assignment writes in ``ds`` (reserving a private block if needed), None if ambiguous."""
        return None


@dataclass(frozen=True)
class ExactTag(ElementMatcher):
    tag: int
    text: str

    def find(self, ds: Dataset) -> list[int]:
        return [self.tag] if self.tag in ds else []

    def target(self, ds: Dataset) -> int | None:
        return self.tag


@dataclass(frozen=True)
class TagPattern(ElementMatcher):
    mask: int
    value: int
    text: str

    def find(self, ds: Dataset) -> list[int]:
        mask, value = self.mask, self.value
        return [tag for tag in ds.keys() if tag & mask == value]


@dataclass(frozen=True)
class PrivateTag(ElementMatcher):
    """``(gggg,{creator}ee)``: the element ``ee`` of whichever block the creator reserved in this dataset."""

    group_mask: int
    group_value: int
    creator: str
    low_mask: int
    low_value: int
    text: str

    def blocks(self, ds: Dataset) -> list[tuple[int, int]]:
        """(group, block) pairs whose private creator element holds this creator (PS3.5 7.8.1)."""
        found = []
        for tag in ds.keys():
            group, element = tag >> 16, tag & 0xFFFF
            if group & self.group_mask == self.group_value and 0x10 <= element <= 0xFF and group & 1:
                value = ds[tag].value
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                if text.strip(" \x00") == self.creator:
                    found.append((group, element))
        return found

    def find(self, ds: Dataset) -> list[int]:
        tags: list[int] = []
        for group, block in self.blocks(ds):
            start = (group << 16) | (block << 8)
            tags.extend(
                t for t in ds.keys() if start <= t <= start + 0xFF and t & self.low_mask == self.low_value
            )
        return tags

    def target(self, ds: Dataset) -> int | None:
        if self.group_mask != 0xFFFF or self.low_mask != 0xFF:
            return None
        blocks = self.blocks(ds)
        if blocks:
            group, block = blocks[0]
            return (group << 16) | (block << 8) | self.low_value
        return int(ds.private_block(self.group_value, self.creator, create=True).get_tag(self.low_value))


def element_matcher(group: str, creator: str | None, element: str) -> ElementMatcher:
    """Compile the parts of a tag token; raise ValueError for a private creator in an even group."""
    text = f"({group},{{{creator}}}{element})" if creator is not None else f"({group},{element})"
    if creator is not None:
        group_mask, group_value = _mask(group)
        if group_mask & 1 and not group_value & 1:
            raise ValueError(f"a private creator needs an odd group, not {group}")
        low_mask, low_value = _mask(element)
        return PrivateTag(group_mask | 1, group_value | 1, creator.strip(), low_mask, low_value, text)
    mask, value = _mask(group + element)
    if mask == 0xFFFFFFFF:
        return ExactTag(value, text)
    return TagPattern(mask, value, text)


@dataclass(frozen=True)
class SequenceStep:
    """``(gggg,eeee)[n]/``: item n (or every item when ``index`` is None) of the matching sequences."""

    matcher: ElementMatcher
    index: int | None


@dataclass(frozen=True)
class DepthStep:
    """``*/`` (0 or more levels), ``+/`` (1 or more) or ``./`` (exactly 1) of any sequence, any item."""

    min_depth: int
    max_depth: int | None


Step = SequenceStep | DepthStep


@dataclass(frozen=True)
class TagPath:
    """A compiled tag path; ``text`` is its canonical spelling, used in messages and dry runs."""

    text: str
    steps: tuple[Step, ...]
    last: ElementMatcher

    @property
    def creates(self) -> bool:
        """Whether ``:=`` may create the element: not through depth wildcards (parser.py, decisions)."""
        return not any(isinstance(step, DepthStep) for step in self.steps)

    def containers(self, root: Dataset, walk: ItemWalker, create: bool = False) -> list[Dataset]:
        """The datasets in which the last tag is looked up."""
        current = [root]
        for step in self.steps:
            found: list[Dataset] = []
            if isinstance(step, DepthStep):
                for ds in current:
                    if step.min_depth == 0:
                        found.append(ds)
                    found.extend(
                        item
                        for depth, item in walk(ds)
                        if depth >= max(step.min_depth, 1)
                        and (step.max_depth is None or depth <= step.max_depth)
                    )
            else:
                for ds in current:
                    found.extend(_step_items(ds, step, create))
            current = _unique(found)
        return current

    def find(self, root: Dataset, walk: ItemWalker) -> list[tuple[Dataset, int]]:
        """Every existing element the path names, as (containing dataset, tag)."""
        if not self.steps:
            return [(root, tag) for tag in self.last.find(root)]
        return [(ds, tag) for ds in self.containers(root, walk) for tag in self.last.find(ds)]

    def targets(self, root: Dataset, walk: ItemWalker) -> list[tuple[Dataset, int]]:
        """Where ``:=`` writes: existing matches, plus the exact element in every explicitly named container."""
        if not self.creates:
            return self.find(root, walk)
        result: list[tuple[Dataset, int]] = []
        for ds in self.containers(root, walk, create=True):
            tag = self.last.target(ds)
            result.extend([(ds, tag)] if tag is not None else [(ds, t) for t in self.last.find(ds)])
        return result


def _step_items(ds: Dataset, step: SequenceStep, create: bool) -> list[Dataset]:
    tag = step.matcher.target(ds) if create and isinstance(step.matcher, ExactTag) else None
    if tag is not None and tag not in ds:
        ds.add_new(tag, "SQ", Sequence())
    items: list[Dataset] = []
    for found in step.matcher.find(ds):
        if not is_sequence(ds, found):
            continue
        seq_items = sequence_items(ds, found)
        if create and tag is not None:
            sequence = ds[found].value
            wanted = 1 if step.index is None else step.index + 1
            while len(sequence) < wanted:
                sequence.append(Dataset())
            seq_items = list(sequence)
        if step.index is None:
            items.extend(seq_items)
        elif step.index < len(seq_items):
            items.append(seq_items[step.index])
    return items


def _unique(datasets: list[Dataset]) -> list[Dataset]:
    seen: set[int] = set()
    unique = []
    for ds in datasets:
        if id(ds) not in seen:
            seen.add(id(ds))
            unique.append(ds)
    return unique
