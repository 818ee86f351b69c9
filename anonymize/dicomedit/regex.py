"""The regular expressions of scripts (``~``, ``!~``, ``match``, ``ismatch``), run by RE2 (google-re2).

RE2 takes time linear in the length of the value whatever the pattern, where Python's backtracking
engine took seconds per extra character on ``"aaa…!" ~ "(a+)+b"`` and froze the process running the
script: the web server of a dry run, the receiver of a site script (issue 14). RE2 reads Python's and
Java's syntax except backreferences (``\\1``), lookaround (``(?=``, ``(?<!``), possessive quantifiers and
atomic groups, and ``\\Z`` (``\\z`` ends the text); a pattern using them does not compile, so a script
holding one as a literal is refused when it is saved, naming the line. ``\\w``, ``\\d`` and ``\\s`` are ASCII,
as in Java without UNICODE_CHARACTER_CLASS (DicomEdit runs on Java).
"""

import functools
from typing import Any, Protocol

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would also print each refused pattern to stderr

UNSUPPORTED = "RE2 has no backreferences, lookaround, possessive quantifiers or atomic groups"


class Match(Protocol):
    def group(self, index: int = 0, /) -> str | None: ...


class Regex(Protocol):
    """A compiled pattern: the part of RE2's interface scripts use."""

    groups: int

    def fullmatch(self, text: str) -> Match | None: ...

    def sub(self, replacement: str, text: str) -> str: ...


class RegexError(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


def _reason(exc: Exception) -> str:
    reason: Any = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Regex:
    """The pattern compiled once per process (patterns computed at run time included); RegexError if
    RE2 cannot compile it."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise RegexError(f"{_reason(exc)} ({UNSUPPORTED})") from None


def fullmatch(pattern: str, text: str) -> Match | None:
    """The match of a pattern against the whole text (Java's ``String.matches``), or None."""
    return compile_regex(pattern).fullmatch(text)
