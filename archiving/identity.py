"""Does a label or a kept header field look like it identifies a person: a name, or a medical record
or accession number? Review and Archive warns on them (DESIGN.md "Anonymization"); labels become
folder names and header values in the archive, where no name or MRN should arrive unless a project
asks for it.

THE identity policy of every way into the archive (`require_confirmed`): final subject and session
labels that look like a name or an MRN are archived only when the person archiving confirms them
(Review and Archive's confirm step, `confirmIdentifiers=true` in the API, `--confirm-identifiers` in
the upload tool); auto-archive, which nobody confirms, leaves such a session in the prearchive.
prearchive/handoff.py applies it before anything is queued and the archive service's validation
(validation.py, code 30) again before anything is written.
"""

from __future__ import annotations

import re

from xnatlite.errors import UnconfirmedIdentifiers

CONFIRM_PARAMETER = "confirmIdentifiers"  # the API's name of the confirmation (REST, upload tool)

# Words that stand in for a name in anonymized or test data; not a person.
PLACEHOLDER_WORDS = {
    "anon",
    "anonymous",
    "anonymized",
    "anonymised",
    "phantom",
    "test",
    "qa",
    "qc",
    "unknown",
    "removed",
    "none",
    "subject",
    "patient",
    "volunteer",
    "control",
}
_NAME_PART = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")  # letters, with O'Brien and Smith-Jones
_SEPARATORS = re.compile(r"[\^,\s_.]+")
_DIGIT_RUN = re.compile(r"\d+")


def looks_like_name(value: str) -> bool:
    """Does a value look like a person's name: `DOE^JOHN`, `Doe, John`, `John Doe`, `Smith`?

    Used on Patient Name, and on subject and session labels (`DOE_JOHN` when routing made a label
    from a Patient Name). A value with digits is taken for a code (`SUBJ01`); placeholders are not names.
    """
    text = (value or "").strip()
    if not text or any(c.isdigit() for c in text):
        return False
    parts = [p for p in _SEPARATORS.split(text) if p]
    if not parts or not all(_NAME_PART.fullmatch(p) for p in parts):
        return False
    words = [p for p in parts if p.lower() not in PLACEHOLDER_WORDS]
    if not words:
        return False
    if len(parts) >= 2:  # FAMILY^GIVEN, "Family, Given", "Given Family", GIVEN_FAMILY
        return sum(len(p) >= 2 for p in words) >= 1 and len(parts) <= 6
    word = words[0]
    return len(word) >= 3 and word[0].isupper() and word[1:].islower()  # "Smith", not "MPRAGE" or "brain"


def looks_like_record_number(value: str) -> bool:
    """Does a value look like a medical record or accession number: six or more digits in a row,
    or only digits (and separators) and at least five of them, e.g. `12345678`, `MRN0012345`, `12-345-678`?"""
    text = (value or "").strip()
    if not text:
        return False
    runs = _DIGIT_RUN.findall(text)
    if any(len(run) >= 6 for run in runs):
        return True
    compact = re.sub(r"[\s./-]", "", text)
    return compact.isdigit() and len(compact) >= 5


def identity_warnings(fields: dict[str, str], *, subject: str = "", session: str = "") -> dict[str, str]:
    """A warning per field (or label) that looks like it identifies a person; empty when none does.

    Study Description is shown, not judged: `BRAIN^ROUTINE` is shaped like a name and is not one.
    """
    warnings = {}
    if looks_like_name(fields.get("PatientName", "")):
        warnings["PatientName"] = "looks like a person's name"
    for keyword, what in (("PatientID", "Patient ID"), ("AccessionNumber", "Accession Number")):
        if looks_like_record_number(fields.get(keyword, "")):
            warnings[keyword] = f"looks like a medical record number ({what} from the hospital)"
        elif looks_like_name(fields.get(keyword, "")):
            warnings[keyword] = "looks like a person's name"
    for key, label in (("subject", subject), ("session", session)):
        finding = _label_finding(key, label)
        if finding:
            warnings[key] = f"{finding}; choose a code"
    return warnings


def _label_finding(key: str, label: str) -> str:
    if looks_like_name(label):
        return f"the {key} label '{label}' looks like a person's name"
    if looks_like_record_number(label):
        return f"the {key} label '{label}' looks like a medical record number"
    return ""


def label_findings(*, subject: str, session: str) -> list[str]:
    """What makes final labels look like they identify a person, one sentence each; empty when nothing."""
    findings = (_label_finding("subject", subject), _label_finding("session", session))
    return [finding for finding in findings if finding]


def require_confirmed(*, subject: str, session: str, confirmed: bool) -> list[str]:
    """The identity policy: UnconfirmedIdentifiers when a final label looks like a name or an MRN and
    the person archiving did not confirm it; else the findings (recorded with the archive)."""
    findings = label_findings(subject=subject, session=session)
    if findings and not confirmed:
        raise UnconfirmedIdentifiers(
            "Not archived: " + "; ".join(findings) + ". Relabel the session (Review and Archive), "
            "or confirm that these labels are meant to be archived as they are",
            findings,
        )
    return findings
