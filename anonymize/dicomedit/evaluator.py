"""Run a compiled DicomEdit script on a pydicom dataset: the per-apply context, statements and the result."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from dicomio.rawitems import KEEP, ElementEdit, Keep, Unsupported, edit_sequence, editable, item_bytes

from .elements import element_text, holds_sequence, is_sequence, raw_value, sequence_items, set_text, text_at
from .errors import ScriptRuntimeError
from .tagpath import ExactTag, TagPath

log = logging.getLogger(__name__)

# Coding scheme of the codes xnatlite writes into De-identification Method Code Sequence: a private "99"
# scheme (PS3.16 8.2), since the code value is our script's id, not a CID 7050 code (xnat-spec.md §6.1).
CODING_SCHEME = "99XNATLITE"


class Rejected(Exception):
    """Raised by ``reject`` inside a run; Script.apply turns it into ``ApplyResult.rejected``."""


@dataclass(frozen=True)
class Services:
    """What a script may ask of the system that runs it; None where that system offers nothing.

    The interpreter stays free of Django: the archive passes the subject's secret date shift, the
    project's lookup table and (when the site allows it) a guarded URL fetcher (anonymize/services.py).
    """

    subject_date_shift: Callable[[], int] | None = None  # days, the same for every session of a subject
    lookup: Callable[[str, str], str | None] | None = None  # (category, key) -> value, None when absent
    get_url: Callable[[str], str] | None = None  # the body of a GET, or ScriptRuntimeError


NO_SERVICES = Services()


class Context:
    """State of one application of a script to one dataset."""

    def __init__(self, root: Dataset, variables: Mapping[str, str], services: Services = NO_SERVICES) -> None:
        self.root = root
        self.variables = dict(variables)
        self.services = services
        self.subject_days: int | None = None  # asked of services once per run
        self.echoes: list[str] = []
        self.warnings: list[str] = []
        # The element an assignment is writing: a tag path in the value that spells the assigned path
        # names this element, so ``*/(0008,1155) ?= hashUID[*/(0008,1155)]`` maps each one in place.
        self.target: tuple[Dataset, int] | None = None
        self.target_path = ""
        self._items: list[tuple[int, Dataset]] | None = None

    def walk(self, ds: Dataset) -> list[tuple[int, Dataset]]:
        """Every item dataset below ``ds`` with its depth; the root's walk is cached until a sequence goes."""
        if ds is not self.root:
            return _walk(ds, 1)
        if self._items is None:
            self._items = _walk(ds, 1)
        return self._items

    def resolve(self, path: TagPath) -> list[tuple[Dataset, int]]:
        """Existing elements a path names, honouring the element being assigned."""
        if self.target is not None and path.text == self.target_path:
            return [self.target]
        return path.find(self.root, self.walk)

    def text_of(self, path: TagPath) -> str:
        """Value of the first element the path names, '' if none."""
        found = self.resolve(path)
        if not found or found[0][1] not in found[0][0]:  # an assignment's target it is about to create
            return ""
        ds, tag = found[0]
        return element_text(ds[tag])

    def delete(self, ds: Dataset, tag: int) -> None:
        """Remove an element, forgetting the cached walk when it was a sequence."""
        if self._items is not None and is_sequence(ds, tag):
            self._items = None
        del ds[tag]

    def structure_changed(self) -> None:
        """Forget the cached walk after sequences or items were added."""
        self._items = None

    def warn(self, message: str) -> None:
        """Record a warning the caller can show; the run goes on."""
        log.warning("%s", message)
        self.warnings.append(message)


def _walk(ds: Dataset, depth: int) -> list[tuple[int, Dataset]]:
    found: list[tuple[int, Dataset]] = []
    for tag in [elem.tag for elem in ds.values() if holds_sequence(elem)]:
        for item in ds[tag].value:
            found.append((depth, item))
            found.extend(_walk(item, depth + 1))
    return found


Expr = Callable[[Context], str]
Action = Callable[[Context], None]


@dataclass(frozen=True)
class Statement:
    """A compiled statement with its place in the script, for error messages."""

    line: int
    text: str
    run: Action


@dataclass(frozen=True)
class TagRule:
    """A statement on one exact tag, at the top level or at every depth (``*/``), that can run in a batch.

    Default scripts are hundreds of such lines; a batch looks each dataset's keys up once against all
    of their tags instead of once per line (bench/anonymize_site_script.py).
    """

    tag: int
    deep: bool
    transform: Callable[[str], str] | None  # new text from the old one; None deletes the element
    reads_old: bool = True  # False for a constant: the old value is not even decoded
    line: int = 0
    text: str = ""


def edit_items(ds: Dataset, edit_dataset: Callable[[Dataset], bool], edit_raw: ElementEdit) -> bool:
    """Run one edit in every item dataset at every depth below ``ds``: a still-raw sequence in its bytes
    with ``edit_raw`` (rawitems.py), a decoded one (or one rawitems cannot edit) item by item with
    ``edit_dataset``. True when something changed (a cached walk is then stale)."""
    changed = False
    for tag in [tag for tag, elem in ds._dict.items() if holds_sequence(elem)]:
        elem = ds._dict[tag]
        if editable(elem):
            try:
                edited = edit_sequence(elem, edit_raw)
            except Unsupported:
                pass  # decoded below, as any other sequence
            else:
                if edited is not elem:
                    ds._dict[tag] = edited
                    changed = True
                continue
        for item in sequence_items(ds, tag):
            changed = edit_dataset(item) or changed
            changed = edit_items(item, edit_dataset, edit_raw) or changed
    return changed


def batch(rules: list[TagRule]) -> Action:
    """Run consecutive TagRules (on distinct tags) in one pass over the datasets they reach."""
    by_tag = {rule.tag: rule for rule in rules}
    top_tags = frozenset(by_tag)
    deep = {rule.tag: rule for rule in rules if rule.deep}
    deep_tags = frozenset(deep)

    def transform(rule: TagRule, old: str) -> str:
        assert rule.transform is not None  # a rule without one deletes its element instead
        try:
            return rule.transform(old)
        except Exception as exc:
            raise failure(exc, rule.line, rule.text) from exc

    def apply_rules(ds: Dataset, tags: frozenset[int]) -> bool:
        changed = False
        # Plain ints on both sides: BaseTag's Python-level __eq__ made set intersections slow.
        for tag in tags.intersection(map(int, ds._dict)):
            rule = by_tag[tag]
            try:
                if rule.transform is None:
                    changed = changed or is_sequence(ds, tag)
                    del ds[tag]
                else:
                    set_text(ds, tag, transform(rule, text_at(ds, tag) if rule.reads_old else ""))
                    changed = changed or is_sequence(ds, tag)
            except Exception as exc:
                raise failure(exc, rule.line, rule.text) from exc
        return changed

    def edit_raw(tag: int, vr: bytes, value: bytes | None) -> Keep | bytes | None:
        rule = deep.get(tag)
        if rule is None:
            return KEEP
        if rule.transform is None:
            return None
        if not rule.reads_old:
            old = ""
        elif vr == b"UI" and value is not None:
            old = value.decode("ascii", errors="replace").rstrip("\x00 ")  # as text_at reads a raw UID
        else:
            raise Unsupported("only UIDs are read in their bytes")
        encoded = raw_value(vr.decode("latin-1"), transform(rule, old))
        if encoded is None:
            raise Unsupported("the new value needs encoding")
        return encoded

    def run(ctx: Context) -> None:
        changed = apply_rules(ctx.root, top_tags)
        if deep_tags:
            changed = edit_items(ctx.root, lambda ds: apply_rules(ds, deep_tags), edit_raw) or changed
        if changed:
            ctx.structure_changed()

    return run


@dataclass(frozen=True)
class Variable:
    """A variable the script declares with ``describe``: what a client prompts for."""

    name: str
    prompt: str
    hidden: bool


@dataclass(frozen=True)
class RecordInfo:
    """How an applied script is recorded in the headers (PS3.15 E.1.1 and xnat-spec.md §6.1)."""

    code_value: str
    meaning: str
    deidentifying: bool


@dataclass
class ApplyResult:
    """What a run produced besides the edited dataset."""

    rejected: bool = False
    echoes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Script:
    """A parsed DicomEdit 6 script; parse once with ``parse_script`` and apply to any number of datasets."""

    version: str
    statements: tuple[Statement, ...]
    variables: tuple[Variable, ...]

    functions: frozenset[str] = frozenset()  # names of the functions the script calls

    def apply(
        self,
        ds: Dataset,
        variables: Mapping[str, str],
        *,
        record: RecordInfo | None = None,
        services: Services = NO_SERVICES,
    ) -> ApplyResult:
        """Run every statement on ``ds`` in place; on failure raise ScriptRuntimeError naming the statement."""
        ctx = Context(ds, variables, services)
        result = ApplyResult(echoes=ctx.echoes, warnings=ctx.warnings)
        try:
            run_statements(self.statements, ctx)
        except Rejected as exc:
            log.info("script rejected the object at line %s", exc.args[0] if exc.args else "?")
            result.rejected = True
            return result
        if record is not None:
            add_record(ds, record)
        return result


def run_statements(statements: "tuple[Statement, ...]", ctx: Context) -> None:
    """Run statements in order; a failure names its own statement (the innermost one, in a block)."""
    for statement in statements:
        try:
            statement.run(ctx)
        except Rejected as exc:
            if not exc.args:
                raise Rejected(statement.line) from None
            raise
        except Exception as exc:  # a pydicom or value error inside one statement
            raise failure(exc, statement.line, statement.text) from exc


def if_block(
    branches: "list[tuple[Callable[[Context], bool], tuple[Statement, ...]]]",
    otherwise: "tuple[Statement, ...]",
) -> Action:
    """``if (condition) { ... } else if (condition) { ... } else { ... }``: the first true branch runs."""

    def run(ctx: Context) -> None:
        for test, statements in branches:
            if test(ctx):
                run_statements(statements, ctx)
                return
        run_statements(otherwise, ctx)

    return run


def failure(exc: Exception, line: int, text: str) -> ScriptRuntimeError:
    """The error to raise for ``exc`` in the statement at ``line``; one that already names a line stays."""
    if isinstance(exc, ScriptRuntimeError):
        return ScriptRuntimeError(exc.message, exc.line or line, exc.statement or text)
    return ScriptRuntimeError(str(exc) or type(exc).__name__, line, text)


RECORD_SEQUENCE = 0x00120064  # De-identification Method Code Sequence
PATIENT_IDENTITY_REMOVED = 0x00120062
DEIDENTIFICATION_METHOD = 0x00120063


def add_record(ds: Dataset, record: RecordInfo) -> None:
    """Append the script to (0012,0064); for a de-identifying script also set (0012,0062) and (0012,0063)."""
    item = (
        (0x00080100, "SH", record.code_value),
        (0x00080102, "SH", CODING_SCHEME),
        (0x00080104, "LO", record.meaning),
    )
    if not _append_raw_item(ds, RECORD_SEQUENCE, item):
        if RECORD_SEQUENCE not in ds._dict:
            ds[RECORD_SEQUENCE] = DataElement(RECORD_SEQUENCE, "SQ", Sequence())
        elements = [DataElement(tag, vr, text) for tag, vr, text in item]
        ds[RECORD_SEQUENCE].value.append(Dataset({elem.tag: elem for elem in elements}))
    if record.deidentifying:
        set_text(ds, PATIENT_IDENTITY_REMOVED, "YES")
        # De-identification Method is LO, VM 1-n: keep what earlier tools wrote and add ours once.
        previous = element_text(ds[DEIDENTIFICATION_METHOD]) if DEIDENTIFICATION_METHOD in ds._dict else ""
        methods = [method for method in previous.split("\\") if method]
        if record.meaning not in methods:
            methods.append(record.meaning)
        set_text(ds, DEIDENTIFICATION_METHOD, "\\".join(methods))


def _append_raw_item(ds: Dataset, tag: int, item: tuple[tuple[int, str, str], ...]) -> bool:
    """Append an item of plain values to a still-raw sequence (or create one in a dataset read as
    explicit VR little endian) in its bytes, as pydicom would encode it; False when it cannot."""
    existing = ds._dict.get(tag)  # type: ignore[call-overload]  # keyed by BaseTag, an int: an int finds it
    if existing is None:
        if tuple(ds.original_encoding) != (False, True):
            return False
    elif not editable(existing):
        return False
    values = [(element, vr.encode(), raw_value(vr, text)) for element, vr, text in item]
    encoded = [(element, vr, value) for element, vr, value in values if value is not None]
    if len(encoded) != len(values):
        return False
    appended = item_bytes(encoded)
    if existing is None:
        ds._dict[BaseTag(tag)] = RawDataElement(BaseTag(tag), "SQ", len(appended), appended, 0, False, True)
    else:
        value = existing.value + appended
        ds._dict[tag] = existing._replace(value=value, length=len(value))  # type: ignore[index]  # keyed by BaseTag, an int: an int finds it
    return True


def assign(path: TagPath, value: Expr, *, if_exists: bool, self_referencing: bool) -> Action:
    """``path := value`` (create or replace) or ``path ?= value`` (replace only)."""

    def run(ctx: Context) -> None:
        if if_exists or not path.creates:
            targets = path.find(ctx.root, ctx.walk)
        else:
            targets = path.targets(ctx.root, ctx.walk)
            if path.steps:
                ctx.structure_changed()
        constant: str | None = None
        for ds, tag in targets:
            if self_referencing:
                ctx.target, ctx.target_path = (ds, tag), path.text
                try:
                    text = value(ctx)
                finally:
                    ctx.target = None
            else:
                if constant is None:
                    constant = value(ctx)
                text = constant
            set_text(ds, tag, text)
            if ds[tag].VR == "SQ":
                ctx.structure_changed()  # its old items are gone from the walk

    return run


def delete(path: TagPath) -> Action:
    """``- path``: remove every element the path names."""
    if not path.steps and isinstance(path.last, ExactTag):
        tag = path.last.tag

        def run_simple(ctx: Context) -> None:
            if tag in ctx.root:
                ctx.delete(ctx.root, tag)

        return run_simple

    def run(ctx: Context) -> None:
        for ds, tag in path.find(ctx.root, ctx.walk):
            if tag in ds:
                ctx.delete(ds, tag)

    return run


def set_variable(name: str, value: Expr) -> Action:
    """``name := value``."""

    def run(ctx: Context) -> None:
        ctx.variables[name] = value(ctx)

    return run


def echo(values: list[Expr]) -> Action:
    """``echo value, ...``: log the values joined by spaces and keep them for the caller."""

    def run(ctx: Context) -> None:
        message = " ".join(value(ctx) for value in values)
        log.info("echo: %s", message)
        ctx.echoes.append(message)

    return run


def conditional(test: Callable[[Context], bool], then: Action, otherwise: Action | None) -> Action:
    """``value OP value ? action [: action]``."""

    def run(ctx: Context) -> None:
        if test(ctx):
            then(ctx)
        elif otherwise is not None:
            otherwise(ctx)

    return run


def reject(ctx: Context) -> None:
    """``reject``: stop here; the caller drops the object."""
    raise Rejected
