"""Turn DicomEdit 6 script text into tokens that carry their line and column (xnat-spec.md §6.4)."""

import re
from dataclasses import dataclass
from typing import Any

from .errors import ScriptSyntaxError

TAG_DIGITS = frozenset("0123456789abcdefABCDEFXx#@")
OPERATORS = (
    ":=", "?=", "!=", "!~", "=", "~", "?", ":", "-", "[", "]", ",", "/", "*", "+", ".", "%", "(", ")", "{", "}"
)  # fmt: skip
OCTAL = re.compile(r"[0-3][0-7]{0,2}|[4-7][0-7]?")
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "(": "(", ")": ")", "\\": "\\"}


@dataclass(frozen=True)
class Token:
    """One token; ``value`` is the decoded string, the number text, or a (group, creator, element) tag."""

    kind: str  # TAG, STRING, NUMBER, IDENT, OP, NEWLINE, EOF
    text: str
    value: Any
    line: int
    column: int


def tokenize(text: str) -> list[Token]:
    """Split script text into tokens, ending with EOF; raise ScriptSyntaxError on a bad character."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []

    def error(self, message: str, pos: int | None = None) -> ScriptSyntaxError:
        at = self.pos if pos is None else pos
        return ScriptSyntaxError(message, self.line, at - self.line_start + 1)

    def add(self, kind: str, start: int, value: Any) -> None:
        column = start - self.line_start + 1
        self.tokens.append(Token(kind, self.text[start : self.pos], value, self.line, column))

    def run(self) -> list[Token]:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            start = self.pos
            if ch == "\n":
                self.pos += 1
                self.add("NEWLINE", start, None)
                self.line += 1
                self.line_start = self.pos
            elif ch in " \t\r\f\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif ch == "(" and self.starts_tag():
                self.add_tag()
            elif ch in "\"'":
                self.add_string(ch)
            elif ch.isdigit() and ch.isascii():
                self.add_number()
            elif ch.isalpha() and ch.isascii() or ch == "_":
                while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] == "_"):
                    if not text[self.pos].isascii():
                        break
                    self.pos += 1
                self.add("IDENT", start, text[start : self.pos])
            else:
                for op in OPERATORS:
                    if text.startswith(op, self.pos):
                        self.pos += len(op)
                        self.add("OP", start, op)
                        break
                else:
                    raise self.error(f"unexpected character {ch!r}")
        self.tokens.append(Token("EOF", "", None, self.line, self.pos - self.line_start + 1))
        return self.tokens

    def add_number(self) -> None:
        text, start = self.text, self.pos
        while self.pos < len(text) and text[self.pos].isdigit() and text[self.pos].isascii():
            self.pos += 1
        if text.startswith(".", self.pos) and self.pos + 1 < len(text) and text[self.pos + 1].isdigit():
            self.pos += 1
            while self.pos < len(text) and text[self.pos].isdigit() and text[self.pos].isascii():
                self.pos += 1
        self.add("NUMBER", start, text[start : self.pos])

    def add_string(self, quote: str) -> None:
        text, start = self.text, self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(text) or text[self.pos] == "\n":
                raise self.error("unterminated string: close it with " + quote + " on the same line", start)
            ch = text[self.pos]
            if ch == quote:
                self.pos += 1
                break
            if ch != "\\":
                out.append(ch)
                self.pos += 1
                continue
            nxt = text[self.pos + 1 : self.pos + 2]
            if nxt and (nxt in ESCAPES or nxt in "\"'"):
                out.append(ESCAPES.get(nxt, nxt))
                self.pos += 2
            elif octal := OCTAL.match(text, self.pos + 1):
                # Java-style octal escape: up to three digits, at most \377.
                out.append(chr(int(octal.group(), 8)))
                self.pos = octal.end()
            else:
                raise self.error(f"unknown escape \\{nxt} in string (use \\\\ for a backslash)")
        self.add("STRING", start, "".join(out))

    def starts_tag(self) -> bool:
        """A '(' opens a tag, except right after ``if``, where it opens the condition."""
        last = self.tokens[-1] if self.tokens else None
        return not (last is not None and last.kind == "IDENT" and last.value == "if")

    def add_tag(self) -> None:
        """A tag is one token: ``(gggg,eeee)`` or ``(gggg,{Private Creator}ee)``, digits or X # @."""
        text, start = self.text, self.pos
        pos = start + 1
        group = text[pos : pos + 4]
        if len(group) < 4 or not set(group) <= TAG_DIGITS:
            raise self.error("expected a tag like (0010,0010): four hex digits for the group", pos)
        pos += 4
        if text[pos : pos + 1] != ",":
            raise self.error("expected ',' between group and element of the tag", pos)
        pos += 1
        creator = None
        if text[pos : pos + 1] == "{":
            end = text.find("}", pos)
            newline = text.find("\n", pos)
            if end < 0 or 0 <= newline < end:
                raise self.error("private creator is missing its closing '}'", pos)
            creator = text[pos + 1 : end]
            pos = end + 1
            width = 2
        else:
            width = 4
        element = text[pos : pos + width]
        if len(element) < width or not set(element) <= TAG_DIGITS:
            what = "two hex digits after the private creator" if creator is not None else "four hex digits"
            raise self.error(f"expected {what} for the element of the tag", pos)
        pos += width
        if text[pos : pos + 1] != ")":
            raise self.error("expected ')' to close the tag", pos)
        self.pos = pos + 1
        self.add("TAG", start, (group.upper(), creator, element.upper()))
