"""The routing chain as pure functions of a dataset: which project, subject and session an instance
belongs to (xnat-spec.md §5.4, DESIGN.md "Routing"), plus the rule and whitelist syntaxes.

Each of project, subject and session is decided on its own by an ordered chain; the first non-empty
value wins, except that a project value only counts if it names an existing project ID or alias
(otherwise the next link is tried):

    1 explicit request parameters (upload, import; checked by the caller)
    2 the receiver's routing expressions
    3 the site routing rules
    4 `Project:` / `Subject:` / `Session:` in Patient Comments (0010,4000), Study Comments (0032,4000),
      Additional Patient History (0010,21B0), in that order
    5 project: Study Description (0008,1030), then Accession Number (0008,0050);
      subject: Patient Name (0010,0010); session: Patient ID (0010,0020)
    6 no project: Unassigned; no session: `dicom_upload`; no subject: empty

Subject and session values become label characters: anything outside [A-Za-z0-9_-] becomes `_`.
The auto-archive flag comes from the site `aa` rules, then `AA:` in the three comment fields.

Every regular expression that reads a header value runs with RE2 (anonymize/dicomedit/regex.py),
in time linear in the value whatever the pattern: the rules' patterns, and the `Key:value` pattern of
the comment fields, which Python's engine took seconds on for a 64 KB Patient Comments of repeated
`Project: a` sent by anyone who may reach the receiver (issue 14).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from anonymize.dicomedit.regex import Regex, RegexError, compile_regex
from dicomio.files import header_text
from xnatlite import layout
from xnatlite.errors import InvalidInput

DEFAULT_SESSION_LABEL = "dicom_upload"  # xnat-spec.md §5.3 step 5
RULE_VALUE_MAX = 64  # XNAT truncates the tag value before matching (§5.5)

STUDY_DESCRIPTION = 0x00081030
ACCESSION_NUMBER = 0x00080050
PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
# Patient Comments, Study Comments, Additional Patient History, in XNAT's order (§5.4).
COMMENT_TAGS = (0x00104000, 0x00324000, 0x001021B0)
ROUTING_TAGS = (STUDY_DESCRIPTION, ACCESSION_NUMBER, PATIENT_NAME, PATIENT_ID, *COMMENT_TAGS)

_RULE_RE = re.compile(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\):(.+?)(?::(\d+))?(?: t:(.*) r:(.*))?", re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """`(gggg,eeee):regex[:group][ t:target r:replacement]`: the regex must match the whole value."""

    tag: int
    pattern: Regex
    group: int = 1
    target: Regex | None = None
    replacement: str = ""
    text: str = ""

    def extract(self, ds: Dataset) -> str:
        """The rule's value for this dataset, '' when the tag is absent or the regex does not match."""
        value = tag_text(ds, self.tag)[:RULE_VALUE_MAX]
        match = self.pattern.fullmatch(value)
        if match is None:
            return ""
        result = match.group(self.group) or ""
        if self.target is not None:
            result = self.target.sub(self.replacement, result)
        return result


def parse_rules(text: str, what: str = "Routing rule") -> list[Rule]:
    """Rules, one per line (blank lines ignored); InvalidInput names the first bad line."""
    rules = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _RULE_RE.fullmatch(line)
        if match is None:
            raise InvalidInput(
                f"{what} on line {number} is not of the form (gggg,eeee):regex[:group]: {line!r}"
            )
        group_text, regex = match.group(4), match.group(3)
        try:
            pattern = compile_regex(regex)
            target = compile_regex(match.group(5)) if match.group(5) is not None else None
        except RegexError as exc:
            raise InvalidInput(f"{what} on line {number} has a bad regular expression: {exc}") from None
        # Group 1 by default (§5.5); a regex without groups yields its whole match.
        group = int(group_text) if group_text else min(1, pattern.groups)
        if group > pattern.groups:
            raise InvalidInput(
                f"{what} on line {number} uses group {group} but its regex has {pattern.groups}"
            )
        rules.append(
            Rule(
                tag=int(match.group(1) + match.group(2), 16),
                pattern=pattern,
                group=group,
                target=target,
                replacement=match.group(6) or "",
                text=line,
            )
        )
    return rules


def tag_text(ds: Dataset, tag: int) -> str:
    """A top-level element's value as text ('' when absent), multiple values joined by backslash."""
    return header_text(ds, tag)


def _comment_pattern(key: str) -> Regex:
    """`Key:value` in a comment field: the whole field must match; `.` does not cross lines; values are
    ASCII word characters and `-` (RE2 reads `\\w` as ASCII, like Java)."""
    return compile_regex(rf"(?i)(?:.*[\s,;])?{re.escape(key)}\s*:\s*([\w\-]*)(?:[\s,;].*)?")


def comment_values(ds: Dataset, key: str) -> list[str]:
    """`Key:value` from each comment field that holds it, in XNAT's order (ContainedAssignmentExtractor,
    §5.4): each field is its own link of the chain."""
    values = []
    for tag in COMMENT_TAGS:
        text = header_text(ds, tag)
        # Most instances have no comments, or none naming the key: RE2 is only asked when the key is there.
        if key.lower() not in text.lower():
            continue
        if (match := _comment_pattern(key).fullmatch(text)) and match.group(1):
            values.append(match.group(1) or "")
    return values


def comment_value(ds: Dataset, key: str) -> str:
    """The first comment field's `Key:value`, '' when none has one."""
    return next(iter(comment_values(ds, key)), "")


def aa_value(text: str) -> bool | None:
    """`t`/`true` -> True, `f`/`false` -> False (any case), anything else -> None (project decides)."""
    value = (text or "").strip().lower()
    if value in ("t", "true"):
        return True
    if value in ("f", "false"):
        return False
    return None


@dataclass(frozen=True)
class ReceiverRules:
    """A receiver's own routing expressions (its configuration parsed), applied before the site's."""

    project: list[Rule] = field(default_factory=list)
    subject: list[Rule] = field(default_factory=list)
    session: list[Rule] = field(default_factory=list)


@functools.lru_cache(maxsize=64)
def receiver_rules(project: str, subject: str, session: str) -> ReceiverRules:
    """A receiver's routing expressions parsed, once per distinct text in a process; InvalidInput names a
    bad line (only a configuration saved around the admin's validation has one)."""
    return ReceiverRules(
        project=parse_rules(project), subject=parse_rules(subject), session=parse_rules(session)
    )


@dataclass(frozen=True)
class SiteRules:
    """The site's routing rules that are enabled (prearchive/models.py SiteRoutingRules, parsed)."""

    project: list[Rule] = field(default_factory=list)
    subject: list[Rule] = field(default_factory=list)
    session: list[Rule] = field(default_factory=list)
    aa: list[Rule] = field(default_factory=list)


@dataclass(frozen=True)
class RuleSet:
    """The receiver's expressions and the site's rules that apply to one instance."""

    receiver: ReceiverRules = field(default_factory=ReceiverRules)
    site: SiteRules = field(default_factory=SiteRules)


@dataclass(frozen=True)
class Route:
    """Where an instance goes: project ID (None = Unassigned), subject and session labels, AA flag."""

    project_id: str | None
    subject: str
    session: str
    auto_archive: bool | None = None
    # The values the project chain looked at when no explicit project was given (what a project ID
    # or alias would have to be to catch this instance): kept on Unassigned sessions (issue 14).
    candidates: tuple[str, ...] = ()


def _rule_values(rules: Iterable[Rule], ds: Dataset) -> list[str]:
    return [value for value in (rule.extract(ds) for rule in rules) if value]


def project_candidates(ds: Dataset, rules: RuleSet) -> list[str]:
    """Every value the project chain offers, in order; the first that names a project wins."""
    values = [*_rule_values(rules.receiver.project, ds), *_rule_values(rules.site.project, ds)]
    values.extend(comment_values(ds, "Project"))
    values.append(tag_text(ds, STUDY_DESCRIPTION))
    values.append(tag_text(ds, ACCESSION_NUMBER))
    return [v for v in values if v]


def _first_label(values: Iterable[str]) -> str:
    for value in values:
        label = layout.clean_label(value)
        if label:
            return label
    return ""


def route_instance(
    ds: Dataset,
    rules: RuleSet,
    find_projects: Callable[[list[str]], dict[str, str]],
    *,
    project_id: str | None = None,
    subject: str = "",
    session: str = "",
) -> Route:
    """Route one instance. `find_projects(values)` maps the values naming a project ID or alias to
    that project's ID; explicit `project_id`/`subject`/`session` come first (the caller checked them)."""
    candidates: list[str] = []
    if project_id is None:
        candidates = project_candidates(ds, rules)
        found = find_projects(candidates) if candidates else {}
        project_id = next((found[v] for v in candidates if v in found), None)
    subject = subject or _first_label(
        (
            *_rule_values(rules.receiver.subject, ds),
            *_rule_values(rules.site.subject, ds),
            comment_value(ds, "Subject"),
            tag_text(ds, PATIENT_NAME),
        )
    )
    session = (
        session
        or _first_label(
            (
                *_rule_values(rules.receiver.session, ds),
                *_rule_values(rules.site.session, ds),
                comment_value(ds, "Session"),
                tag_text(ds, PATIENT_ID),
            )
        )
        or DEFAULT_SESSION_LABEL
    )
    aa_text = next(iter(_rule_values(rules.site.aa, ds)), "") or comment_value(ds, "AA")
    return Route(
        project_id=project_id,
        subject=subject,
        session=session,
        auto_archive=aa_value(aa_text),
        candidates=tuple(candidates),
    )
