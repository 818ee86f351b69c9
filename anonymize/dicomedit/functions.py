"""The DicomEdit function registry and the functions xnatlite implements (xnat-spec.md §6.4, "Functions").

A function declares the kind of each parameter: ``value`` (evaluated to a string), ``path`` (a tag path,
written as a path or as a string holding one, compiled when the script is parsed) or ``path_or_value``.
Adding a function is one decorated definition here; the parser checks names and argument counts.
"""

import datetime
import functools
import hashlib
import re
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dicomio.rawitems import KEEP, Keep

from .elements import blank, element_text, is_sequence, sequence_items, set_text
from .errors import ScriptRuntimeError
from .evaluator import Context, edit_items
from .pixels import alter_pixels
from .regex import Match, RegexError
from .regex import fullmatch as regex_fullmatch
from .tagpath import TagPath

Arg = str | TagPath


@dataclass(frozen=True)
class Function:
    """A registered function: parameter kinds, how many trailing ones are optional, variadic tail kind."""

    name: str
    params: tuple[str, ...]
    optional: int
    variadic: str | None
    statement: bool  # acts on the dataset; its value is ''
    regex: int | None  # position of a regular expression argument, checked at parse time when literal
    run: Callable[[Context, list[Arg]], str]

    def kind_of(self, position: int) -> str:
        """Parameter kind at ``position`` (0-based)."""
        return self.params[position] if position < len(self.params) else self.variadic or "value"

    def arity_error(self, count: int) -> str | None:
        """A message when ``count`` arguments do not fit, else None."""
        low, high = len(self.params) - self.optional, len(self.params)
        if count < low or (self.variadic is None and count > high):
            expected = (
                f"{low}" if low == high else f"{low} to {high}" if self.variadic is None else f"{low} or more"
            )
            return f"{self.name} takes {expected} argument{'' if expected == '1' else 's'}, not {count}"
        return None


FUNCTIONS: dict[str, Function] = {}


def register(
    name: str,
    *params: str,
    optional: int = 0,
    variadic: str | None = None,
    statement: bool = False,
    regex: int | None = None,
) -> Callable[[Callable[[Context, list[Arg]], str]], Callable[[Context, list[Arg]], str]]:
    """Add a function to the registry under ``name``."""

    def add(run: Callable[[Context, list[Arg]], str]) -> Callable[[Context, list[Arg]], str]:
        FUNCTIONS[name] = Function(name, params, optional, variadic, statement, regex, run)
        return run

    return add


def _text(ctx: Context, arg: Arg) -> str:
    return ctx.text_of(arg) if isinstance(arg, TagPath) else arg


def _int(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ScriptRuntimeError(f"{name}: {text!r} is not an integer") from None


# --- strings ---------------------------------------------------------------------------------------------

MESSAGE_FORMAT = re.compile(r"''|'((?:[^']|'')*)'|\{(\d+)(?:,[^}]*)?\}")


@register("format", "value", variadic="value")
def format_(ctx: Context, args: list[Arg]) -> str:
    """Java MessageFormat subset: ``{n}`` placeholders, '' for a quote, text in single quotes verbatim."""
    pattern, values = str(args[0]), [str(a) for a in args[1:]]

    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "''":
            return "'"
        if m.group(1) is not None:
            return m.group(1).replace("''", "'")
        n = int(m.group(2))
        return values[n] if n < len(values) else m.group(0)  # Java leaves unknown placeholders as written

    return MESSAGE_FORMAT.sub(replace, pattern)


@register("lowercase", "value")
def lowercase(ctx: Context, args: list[Arg]) -> str:
    """``lowercase[s]``."""
    return str(args[0]).lower()


@register("uppercase", "value")
def uppercase(ctx: Context, args: list[Arg]) -> str:
    """``uppercase[s]``."""
    return str(args[0]).upper()


@register("replace", "value", "value", "value")
def replace(ctx: Context, args: list[Arg]) -> str:
    """Literal replacement of every occurrence, like Java's String.replace."""
    return str(args[0]).replace(str(args[1]), str(args[2]))


@register("substring", "value", "value", "value", optional=1)
def substring(ctx: Context, args: list[Arg]) -> str:
    """0-based, end exclusive; indexes past either end are clamped instead of failing like Java."""
    text = str(args[0])
    begin = max(0, _int("substring", str(args[1])))
    end = _int("substring", str(args[2])) if len(args) > 2 else len(text)
    return text[begin:end] if end >= 0 else ""


@register("concatenate", variadic="value")
def concatenate(ctx: Context, args: list[Arg]) -> str:
    """``concatenate[a, b, ...]``: the values joined with nothing between them."""
    return "".join(str(a) for a in args)


@register("match", "value", "value", "value", regex=1)
def match(ctx: Context, args: list[Arg]) -> str:
    """Group n of a regex that must match the whole value ('' when it does not match)."""
    found = _fullmatch("match", str(args[1]), str(args[0]))
    group = _int("match", str(args[2]))
    if found is None:
        return ""
    try:
        return found.group(group) or ""
    except IndexError:
        raise ScriptRuntimeError(f"match: the regular expression has no group {group}") from None


@register("ismatch", "value", "value", regex=1)
def ismatch(ctx: Context, args: list[Arg]) -> str:
    """``ismatch[s, regex]``: "true" when the regex matches the whole value, else "false"."""
    return "true" if _fullmatch("ismatch", str(args[1]), str(args[0])) else "false"


def _fullmatch(name: str, pattern: str, text: str) -> Match | None:
    """RE2's match of the whole value (linear time whatever the pattern: regex.py)."""
    try:
        return regex_fullmatch(pattern, text)
    except RegexError as exc:
        raise ScriptRuntimeError(f"{name}: invalid regular expression {pattern!r}: {exc}") from None


@register("urlEncode", "value")
def url_encode(ctx: Context, args: list[Arg]) -> str:
    """application/x-www-form-urlencoded, like Java's URLEncoder."""
    return urllib.parse.quote_plus(str(args[0]), safe="*")


# --- UIDs ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def hash_uid(uid: str, algorithm: str = "SHA-1") -> str:
    """Deterministic UID for ``uid``: a name-based UUID (v5 SHA-1, or v3 MD5) of its text as ``2.25.<int>``."""
    name = algorithm.upper().replace("-", "").replace("_", "")
    if name not in ("SHA1", "MD5"):
        raise ScriptRuntimeError(f"hashUID: unknown algorithm {algorithm!r} (use SHA-1 or MD5)")
    # Like DicomEdit (and dcm4che's UUID-to-UID conversion) the UID text alone is hashed, with no
    # namespace and no salt, so every process and every site maps a UID to the same new one.
    digest = hashlib.sha1(uid.encode()).digest() if name == "SHA1" else hashlib.md5(uid.encode()).digest()
    value = uuid.UUID(bytes=digest[:16], version=5 if name == "SHA1" else 3)
    return f"2.25.{value.int}"


def hash_uid_values(text: str, algorithm: str = "SHA-1") -> str:
    """hash_uid of each backslash-separated value; empty values stay empty."""
    return "\\".join(hash_uid(part.strip(), algorithm) if part.strip() else "" for part in text.split("\\"))


@register("hashUID", "path_or_value", "value", optional=1)
def hash_uid_function(ctx: Context, args: list[Arg]) -> str:
    """``hashUID[uid {, algorithm}]``: see hash_uid_values."""
    return hash_uid_values(_text(ctx, args[0]), str(args[1]) if len(args) > 1 else "SHA-1")


def new_uid() -> str:
    """A fresh random UID under the 2.25 root (PS3.5 B.2)."""
    return f"2.25.{uuid.uuid4().int}"


@register("newUID")
def new_uid_function(ctx: Context, args: list[Arg]) -> str:
    """``newUID[]``: a different UID on every call."""
    return new_uid()


# --- dates -----------------------------------------------------------------------------------------------

UNITS = {"day": "days", "hour": "hours", "minute": "minutes", "second": "seconds"}
DATE_TIME = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?")
TIME = re.compile(r"(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?")


def _shift(ctx: Context, args: list[Arg], default_unit: str, function: str) -> str:
    vr = ""
    if isinstance(args[0], TagPath):
        found = ctx.resolve(args[0])
        if not found or found[0][1] not in found[0][0]:
            return ""
        ds, tag = found[0]
        vr, text = ds[tag].VR, element_text(ds[tag])
    else:
        text = args[0]
    unit = str(args[2]) if len(args) > 2 else default_unit
    return _shift_text(ctx, text, vr, str(args[1]), unit, function)


def _shift_text(ctx: Context, text: str, vr: str, amount_text: str, unit: str, function: str) -> str:
    """Shift each value of ``text`` (of VR ``vr``; '' reads DA or DT by its length) by an amount in a unit."""
    amount = _int(function, amount_text)
    unit_name = unit.strip().lower().rstrip("s")
    if unit_name not in UNITS:
        raise ScriptRuntimeError(f"{function}: unknown unit {unit!r} (days, hours, minutes or seconds)")
    delta = datetime.timedelta(**{UNITS[unit_name]: amount})
    shifted = []
    for part in text.split("\\"):
        value = part.strip()
        try:
            shifted.append(_shift_one(value, vr, delta) if value else value)
        except (ValueError, OverflowError):
            # An unparseable or out-of-range date is left as it was: a warning, never a failed import.
            ctx.warn(f"{function}: {value!r} is not a valid {vr or 'date'}; left unchanged")
            shifted.append(part)
    return "\\".join(shifted)


def _shift_one(value: str, vr: str, delta: datetime.timedelta) -> str:
    if vr == "TM":
        m = TIME.fullmatch(value)
        if m is None:
            raise ValueError(value)
        hh, mm, ss, frac = m.groups()
        base = datetime.datetime(2000, 1, 1, int(hh), int(mm or 0), int(ss or 0), _micro(frac))
        moved = base + delta  # a time alone wraps around midnight
        return _render(moved, 10 + 2 * sum(x is not None for x in (mm, ss)), frac)[8:]
    m = DATE_TIME.fullmatch(value)
    if m is None or (vr == "DA" and len(value) != 8):
        raise ValueError(value)
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    base = datetime.datetime(
        int(year), int(month or 1), int(day or 1), int(hh or 0), int(mm or 0), int(ss or 0), _micro(frac)
    )
    digits = 4 + 2 * sum(x is not None for x in (month, day, hh, mm, ss))
    return _render(base + delta, digits, frac) + (zone or "")


def _micro(frac: str | None) -> int:
    return int((frac[1:] + "000000")[:6]) if frac else 0


def _render(moment: datetime.datetime, digits: int, frac: str | None) -> str:
    """Format with the precision the input had: ``digits`` of YYYYMMDDHHMMSS plus its fraction."""
    text = moment.strftime("%Y%m%d%H%M%S")[:digits]
    if frac:
        text += "." + f"{moment.microsecond:06d}"[: len(frac) - 1]
    return text


@register("shiftDateByIncrement", "path_or_value", "value", "value", optional=1)
def shift_date(ctx: Context, args: list[Arg]) -> str:
    """Shift a DA (or DT) value; the increment is in days unless a unit is given."""
    return _shift(ctx, args, "days", "shiftDateByIncrement")


@register("shiftDateTimeByIncrement", "path_or_value", "value", "value", optional=1)
def shift_date_time(ctx: Context, args: list[Arg]) -> str:
    """Shift a DT, DA or TM value; like DicomEdit the increment is in seconds unless a unit is given."""
    return _shift(ctx, args, "seconds", "shiftDateTimeByIncrement")


@register("shiftDateTimeSequenceByIncrement", "value", "path", "value", optional=1, statement=True)
def shift_date_time_sequence(ctx: Context, args: list[Arg]) -> str:
    """``shiftDateTimeSequenceByIncrement[increment, "tagpath" {, unit}]``: shift, in place, every DA, DT or
    TM element the path names, in sequences at any depth the path reaches; seconds unless a unit is given
    (the unit is xnatlite's addition)."""
    path = args[1]
    assert isinstance(path, TagPath)
    unit = str(args[2]) if len(args) > 2 else "seconds"
    _shift_in_place(ctx, [path], str(args[0]), unit, "shiftDateTimeSequenceByIncrement")
    return ""


def _shift_in_place(ctx: Context, paths: list[TagPath], amount: str, unit: str, function: str) -> None:
    for path in paths:
        for ds, tag in path.find(ctx.root, ctx.walk):
            elem = ds[tag]
            if elem.VR in DATE_VRS:
                set_text(ds, tag, _shift_text(ctx, element_text(elem), elem.VR, amount, unit, function))


DATE_VRS = frozenset({"DA", "DT", "TM"})


# --- the subject's secret date shift (PS3.15 E.3.6, Retain Longitudinal Temporal Information with Modified
# Dates): one random whole number of days per subject and project, drawn and kept by the server, so every
# session of a subject moves by the same amount and the intervals between them survive.


def _subject_days(ctx: Context, function: str) -> int:
    if ctx.subject_days is None:
        provider = ctx.services.subject_date_shift
        if provider is None:
            raise ScriptRuntimeError(
                f"{function}: the subject's date shift exists only in project scripts, run at archive"
            )
        ctx.subject_days = provider()
    return ctx.subject_days


@register("subjectDateShift")
def subject_date_shift(ctx: Context, args: list[Arg]) -> str:
    """``subjectDateShift[]``: the subject's secret shift in days (a signed integer, never 0)."""
    return str(_subject_days(ctx, "subjectDateShift"))


@register("shiftSubjectDates", "path", variadic="path", statement=True)
def shift_subject_dates(ctx: Context, args: list[Arg]) -> str:
    """``shiftSubjectDates[path, ...]``: move every DA and DT element the paths name by the subject's shift;
    TM elements keep their value (a shift of whole days leaves the time of day as it was)."""
    days = _subject_days(ctx, "shiftSubjectDates")
    paths = [path for path in args if isinstance(path, TagPath)]
    _shift_in_place(ctx, paths, str(days), "days", "shiftSubjectDates")
    return ""


# --- age at the study -------------------------------------------------------------------------------------


@register("ageAt", "path_or_value", "path_or_value")
def age_at(ctx: Context, args: list[Arg]) -> str:
    """``ageAt[birthDate, date]``: the age on ``date`` as an Age String (PS3.5 6.2: ``nnnY``, or ``nnnM``,
    ``nnnW``, ``nnnD`` under a year, month or week); '' when either date is missing or not a date."""
    born, on = (_date(_text(ctx, arg)) for arg in args)
    if born is None or on is None or on < born:
        return ""
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if years >= 1:
        return f"{min(years, 999):03d}Y"
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    if months >= 1:
        return f"{months:03d}M"
    days = (on - born).days
    return f"{days // 7:03d}W" if days >= 7 else f"{days:03d}D"


def _date(text: str) -> datetime.date | None:
    value = text.strip()[:8]
    try:
        return datetime.datetime.strptime(value, "%Y%m%d").date() if len(value) == 8 else None
    except ValueError:
        return None


# --- values from outside the dataset ----------------------------------------------------------------------


@register("lookup", "value", "value")
def lookup(ctx: Context, args: list[Arg]) -> str:
    """``lookup[category, key]``: the value the lookup table maps ``category/key`` to; '' (and a warning)
    when the table has no such line, so an unknown key never leaks the original value."""
    provider = ctx.services.lookup
    if provider is None:
        raise ScriptRuntimeError("lookup: no lookup table is available to this script")
    category, key = str(args[0]), str(args[1])
    found = provider(category, key)
    if found is None:
        ctx.warn(f"lookup: no value for {category}/{key} in the lookup table; '' used")
        return ""
    return found


@register("getURL", "value")
def get_url(ctx: Context, args: list[Arg]) -> str:
    """``getURL[url]``: the body of an HTTP GET, when the site allows that URL (README "Anonymization")."""
    fetch = ctx.services.get_url
    if fetch is None:
        raise ScriptRuntimeError("getURL is turned off on this site (XNATLITE_SCRIPT_URL_PREFIXES)")
    return fetch(str(args[0]))


# --- UIDs mapped under a root of the site's choosing ------------------------------------------------------


def map_uid(prefix: str, uid: str) -> str:
    """A UID under ``prefix`` derived from ``uid`` alone (SHA-1, as decimal digits, cut to 64 characters), so
    an instance UID and every reference to it map to the same new UID, in every file and every process."""
    root = prefix.strip().rstrip(".")
    if not root:
        return hash_uid(uid)
    room = 64 - len(root) - 1
    if room < 8 or not UID_ROOT.fullmatch(root):
        raise ScriptRuntimeError(f"mapReferencedUIDs: {prefix!r} is not a UID root with room for a suffix")
    digits = str(int.from_bytes(hashlib.sha1(uid.encode()).digest(), "big"))
    return f"{root}.{digits[:room]}"


UID_ROOT = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))*")


@register("mapReferencedUIDs", "value", "path", variadic="path", statement=True)
def map_referenced_uids(ctx: Context, args: list[Arg]) -> str:
    """``mapReferencedUIDs[root, "tagpath", ...]``: replace every UID the paths name with map_uid's."""
    prefix = str(args[0])
    for path in args[1:]:
        assert isinstance(path, TagPath)
        for ds, tag in path.find(ctx.root, ctx.walk):
            old = element_text(ds[tag])
            new = "\\".join(map_uid(prefix, part.strip()) if part.strip() else "" for part in old.split("\\"))
            set_text(ds, tag, new)
    return ""


@register("set", "path", "value", statement=True)
def set_(ctx: Context, args: list[Arg]) -> str:
    """``set["tagpath", value]``: the same as ``tagpath := value``."""
    path, value = args
    assert isinstance(path, TagPath)
    targets = path.targets(ctx.root, ctx.walk) if path.creates else path.find(ctx.root, ctx.walk)
    if path.steps:
        ctx.structure_changed()
    for ds, tag in targets:
        set_text(ds, tag, str(value))
    return ""


# --- statements that edit the dataset --------------------------------------------------------------------


@register("blankValues", "path", variadic="path", statement=True)
def blank_values(ctx: Context, args: list[Arg]) -> str:
    """Give every named element an empty value (PS3.15 E.1 action Z)."""
    for path in args:
        assert isinstance(path, TagPath)
        for ds, tag in ctx.resolve(path):
            blank(ds, tag)
    return ""


@register("removeAllPrivateTags", statement=True)
def remove_all_private_tags(ctx: Context, args: list[Arg]) -> str:
    """Remove every element with an odd group, creators included, at every depth (PS3.15 E.3.10)."""
    changed = _remove_odd_groups(ctx.root)
    if edit_items(ctx.root, _remove_odd_groups, _drop_odd_group) or changed:
        ctx.structure_changed()
    return ""


def _remove_odd_groups(ds: Dataset) -> bool:
    private = [tag for tag in ds._dict if tag >> 16 & 1]
    for tag in private:
        del ds[tag]
    return bool(private)


def _drop_odd_group(tag: int, vr: bytes, value: bytes | None) -> Keep | None:
    return None if tag >> 16 & 1 else KEEP


@register("retainPrivateTags", "path", variadic="path", statement=True)
def retain_private_tags(ctx: Context, args: list[Arg]) -> str:
    """Remove private elements except the named ones, their private creators and the sequences holding them."""
    parents: dict[int, tuple[Dataset, int]] = {}
    _map_parents(ctx.root, parents)
    keep: set[tuple[int, int]] = set()
    for path in args:
        assert isinstance(path, TagPath)
        for ds, tag in ctx.resolve(path):
            while True:
                keep.add((id(ds), tag))
                if tag >> 16 & 1 and tag & 0xFFFF >= 0x1000:
                    keep.add((id(ds), (tag & 0xFFFF0000) | (tag & 0xFFFF) >> 8))
                if id(ds) not in parents:
                    break
                ds, tag = parents[id(ds)]
    _remove_private(ctx, ctx.root, keep)
    return ""


def _map_parents(ds: Dataset, parents: dict[int, tuple[Dataset, int]]) -> None:
    for tag in list(ds.keys()):
        for item in sequence_items(ds, tag):
            parents[id(item)] = (ds, tag)
            _map_parents(item, parents)


def _remove_private(ctx: Context, ds: Dataset, keep: set[tuple[int, int]]) -> None:
    for tag in list(ds.keys()):
        if tag >> 16 & 1 and (id(ds), tag) not in keep:
            ctx.delete(ds, tag)
        elif is_sequence(ds, tag):
            for item in sequence_items(ds, tag):
                _remove_private(ctx, item, keep)


register("alterPixels", "value", "value", "value", "value", statement=True)(alter_pixels)
