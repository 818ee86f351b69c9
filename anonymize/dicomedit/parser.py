"""Parse DicomEdit 6 script text into a compiled ``Script`` (xnat-spec.md §6.4).

Grammar, as xnatlite reads it (one statement per line; ``//`` comments; blank lines ignored)::

    script     := version-line (NEWLINE statement)*
    version    := "version" ("6.0" .. "6.6")                       first statement, required
    statement  := "-" tagpath                                      delete
                | tagpath (":=" | "?=") value                      assign / assign if present
                | name ":=" value                                  set a variable
                | condition "?" action [":" action]
                | "if" "(" condition ")" block ("else" "if" "(" condition ")" block)* ["else" block]
                | "echo" value ("," value)*
                | "describe" name (string ["hidden"] | "hidden")
                | "export" name [string]                           accepted and ignored
                | "removeAllPrivateTags" | "reject" | function-call
    action     := any statement except version, describe, export, a conditional and an if block
    condition  := value ("=" | "!=" | "~" | "!~") value
    block      := "{" statement* "}"                                 statements one per line
    tagpath    := segment ("/" segment)*;   the last segment is a tag without an item index
    segment    := tag ["[" (integer | "%") "]"] | "*" | "+" | "."
    value      := string | number | "-" number | tagpath | name | name "[" [arg ("," arg)*] "]" | "new" "UID"

Decisions where the references leave the language open (also in README "Anonymization"):

* A script without ``version "6.x"`` is refused: DicomEdit 4 scripts use other conditional syntax, and
  running one under 6.x rules could silently skip a de-identification step.
* ``(seq)/(tag)`` without an item index means every item, like ``[%]``; indexes count from 0.
* ``*/`` is zero or more sequence levels (so it includes the top level), ``+/`` one or more, ``./`` exactly
  one; each level is any sequence element and any item.
* ``:=`` creates the element (and missing sequences or items on an explicit path) only where the path is
  explicit; through ``*``, ``+`` or ``.`` it replaces existing elements and creates none. A tag with
  wildcards is never created.
* In a value, a tag path spelled exactly like the assigned path means the element being assigned, so
  ``*/(0008,1155) ?= hashUID[*/(0008,1155)]`` remaps each referenced UID in place; any other tag path
  means the first element it names ('' when none).
* ``~`` and ``!~`` match the whole value, like Java's ``String.matches``; regexes run with RE2 (``regex.py``:
  linear time whatever the pattern), whose syntax agrees with Python's and Java's for the constructs
  scripts use; a literal regex RE2 cannot compile is a syntax error.
* A bare name is a variable, except ``newUID``, which may be written without brackets.
* ``if (...) { ... } else { ... }`` blocks are xnatlite's: DicomEdit's published 6.x grammar has only the
  ``? :`` form, whose actions are single statements. A block holds any statements (nested blocks and
  conditionals too); ``else`` may start the line after ``}``. Only right after ``if`` is ``(`` a
  parenthesis; anywhere else it opens a tag, as in every DicomEdit script.
* A variable with no value (not passed, not assigned earlier, not described) fails the run; a
  ``describe``d variable nobody supplied is ''.
"""

import dataclasses
import re
from collections.abc import Callable

from .errors import ScriptRuntimeError, ScriptSyntaxError
from .evaluator import (
    Action,
    Context,
    Expr,
    Script,
    Statement,
    TagRule,
    Variable,
    assign,
    batch,
    conditional,
    delete,
    echo,
    if_block,
    reject,
    set_variable,
)
from .functions import FUNCTIONS, Arg, Function, hash_uid_values, new_uid
from .lexer import Token, tokenize
from .regex import Regex, RegexError, compile_regex
from .tagpath import DepthStep, ExactTag, SequenceStep, Step, TagPath, element_matcher

VERSION = re.compile(r"6\.[0-6](\.\d+)?")
COMPARISONS = ("=", "!=", "~", "!~")
PATH_START = ("*", "+", ".")
NO_VERSION = 'Only DicomEdit 6 scripts are supported: start the script with version "6.3"'


def parse_script(text: str) -> Script:
    """Compile script text; raise ScriptSyntaxError with line and column when it does not parse."""
    return _Parser(text).script()


def parse_tag_path(text: str) -> TagPath:
    """Compile a lone tag path such as ``*/(0008,1155)``; raise ScriptSyntaxError when it is not one."""
    parser = _Parser(text)
    path = parser.tag_path()
    parser.expect_end("after the tag path")
    return path


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.tokens = tokenize(text)
        self.pos = 0
        self.described: dict[str, Variable] = {}
        self.paths_in_value: list[str] = []
        self.rule: TagRule | None = None  # set by statement() when the statement can run in a batch
        self.functions: set[str] = set()  # every function the script calls

    # --- token helpers ---------------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tok
        if tok.kind != "EOF":
            self.pos += 1
        return tok

    def is_op(self, *ops: str, tok: Token | None = None) -> bool:
        tok = tok or self.tok
        return tok.kind == "OP" and tok.value in ops

    def error(self, message: str, tok: Token | None = None) -> ScriptSyntaxError:
        tok = tok or self.tok
        return ScriptSyntaxError(message, tok.line, tok.column)

    def expect_op(self, op: str, what: str) -> Token:
        if not self.is_op(op):
            raise self.error(f"expected '{op}' {what}, found {_describe(self.tok)}")
        return self.advance()

    def expect_end(self, what: str) -> None:
        if self.tok.kind not in ("NEWLINE", "EOF"):
            raise self.error(f"expected the end of the line {what}, found {_describe(self.tok)}")

    def skip_newlines(self) -> None:
        while self.tok.kind == "NEWLINE":
            self.advance()

    # --- script and statements -------------------------------------------------------------------------

    def script(self) -> Script:
        self.skip_newlines()
        version = self.version()
        statements: list[tuple[Statement, TagRule | None]] = []
        while True:
            self.skip_newlines()
            if self.tok.kind == "EOF":
                break
            start = self.tok
            if start.kind == "IDENT" and start.value in ("describe", "export", "version"):
                self.declaration()
            else:
                self.rule = None
                run = self.statement(allow_conditional=True)
                text = self.lines[start.line - 1].strip()
                rule = self.rule and dataclasses.replace(self.rule, line=start.line, text=text)
                statements.append((Statement(start.line, text, run), rule))
            self.expect_end("after the statement")
        return Script(
            version, _batched(statements), tuple(self.described.values()), frozenset(self.functions)
        )

    def version(self) -> str:
        tok = self.tok
        if not (tok.kind == "IDENT" and tok.value.lower() == "version"):
            raise self.error(NO_VERSION)
        self.advance()
        value = self.advance()
        if value.kind not in ("STRING", "NUMBER"):
            raise self.error('expected a version number such as "6.3" after version', value)
        if not VERSION.fullmatch(value.value):
            raise self.error(
                f'unsupported DicomEdit version "{value.value}": xnatlite runs 6.0 to 6.6', value
            )
        self.expect_end("after the version")
        return str(value.value)

    def declaration(self) -> None:
        keyword = self.advance()
        if keyword.value == "version":
            raise self.error("version may only appear once, as the first statement", keyword)
        name = self.advance()
        if name.kind != "IDENT":
            raise self.error(f"expected a variable name after {keyword.value}", name)
        if keyword.value == "export":
            # DicomEdit's export copies a variable into an XNAT session field; xnatlite has no such
            # mapping, so the statement is accepted (old scripts keep parsing) and does nothing.
            if self.tok.kind == "STRING":
                self.advance()
            return
        prompt, hidden = name.value, False
        if self.tok.kind == "STRING":
            prompt = self.advance().value
        if self.tok.kind == "IDENT" and self.tok.value == "hidden":
            self.advance()
            hidden = True
        elif prompt == name.value:
            raise self.error(f"expected a prompt string or hidden after describe {name.value}")
        self.described[name.value] = Variable(name.value, prompt, hidden)

    def statement(self, allow_conditional: bool) -> Action:
        tok = self.tok
        if self.is_op("-") and self.peek().kind != "NUMBER":
            self.advance()
            if not self.starts_path():
                raise self.error(f"expected a tag after '-', found {_describe(self.tok)}")
            path = self.tag_path()
            self.rule = _rule(path, None)
            return delete(path)
        if tok.kind == "IDENT":
            return self.name_statement(allow_conditional)
        if self.starts_path():
            path = self.tag_path()
            if self.is_op(":=", "?="):
                if_exists = self.advance().value == "?="
                self.paths_in_value = []
                first = self.pos
                value = self.value()
                if if_exists:
                    self.rule = self.batch_rule(path, self.tokens[first : self.pos])
                return assign(
                    path, value, if_exists=if_exists, self_referencing=path.text in self.paths_in_value
                )
            if not (allow_conditional and self.is_op(*COMPARISONS)):
                raise self.error(f"expected ':=' , '?=' or a conditional after the tag {path.text}")
            return self.conditional(self.path_value(path))
        if tok.kind in ("STRING", "NUMBER") or self.is_op("-"):
            if not allow_conditional:
                raise self.error(f"expected an action, found {_describe(tok)}")
            return self.conditional(self.value())
        if self.is_op(*PATH_START):
            raise self.error(f"expected '/' and a tag after '{tok.value}'", self.peek())
        raise self.error(f"expected a statement, found {_describe(tok)}")

    def name_statement(self, allow_conditional: bool) -> Action:
        """Statements starting with a name, including a conditional whose left value is a name."""
        tok = self.tok
        name = tok.value
        following = self.peek()
        if name == "if" and self.is_op("(", tok=following):
            if not allow_conditional:
                raise self.error("an if block cannot be the action of a conditional")
            return self.if_statement()
        if name == "echo":
            self.advance()
            values = [self.value()]
            while self.is_op(","):
                self.advance()
                values.append(self.value())
            return echo(values)
        if name == "reject" and not self.is_op("[", tok=following):
            self.advance()
            return reject
        if name in ("describe", "export", "version"):
            raise self.error(f"{name} cannot be used inside a conditional")
        if self.is_op(":=", tok=following):
            self.advance()
            self.advance()
            return set_variable(name, self.value())
        function = FUNCTIONS.get(name)
        if function is not None and function.statement:
            if self.is_op("[", tok=following):
                call = self.call()
            elif not function.params and function.variadic is None:
                self.advance()
                self.functions.add(name)
                call = _call(function, [])
            else:
                raise self.error(f"expected '[' after {name}")

            def run(ctx: Context) -> None:
                call(ctx)

            return run
        if self.is_op("?=", tok=following):
            raise self.error(f"'?=' needs a tag on its left; {name} is a variable (use ':=')", following)
        if not allow_conditional:
            raise self.error(f"expected an action, found {_describe(tok)}")
        left = self.value()
        if not self.is_op(*COMPARISONS):
            raise self.error(f"expected ':=' or a comparison after {name}, found {_describe(self.tok)}")
        return self.conditional(left)

    def if_statement(self) -> Action:
        """``if (condition) { ... }``, then any ``else if (condition) { ... }``, then an optional
        ``else { ... }``; ``else`` may start the line after the closing brace."""
        branches: list[tuple[Callable[[Context], bool], tuple[Statement, ...]]] = []
        otherwise: tuple[Statement, ...] = ()
        while True:
            self.advance()  # if
            self.expect_op("(", "after if")
            test = self.condition(self.value())
            self.expect_op(")", "after the condition")
            branches.append((test, self.block()))
            after_block = self.pos
            self.skip_newlines()
            if not (self.tok.kind == "IDENT" and self.tok.value == "else"):
                self.pos = after_block
                break
            self.advance()
            if self.tok.kind == "IDENT" and self.tok.value == "if" and self.is_op("(", tok=self.peek()):
                continue
            otherwise = self.block()
            break
        self.rule = None  # the statements inside run where the block runs, never in a batch
        return if_block(branches, otherwise)

    def block(self) -> tuple[Statement, ...]:
        """``{`` statements, one per line, ``}``."""
        self.skip_newlines()
        self.expect_op("{", "to open the block")
        statements: list[Statement] = []
        while True:
            self.skip_newlines()
            if self.is_op("}"):
                self.advance()
                return tuple(statements)
            start = self.tok
            if start.kind == "EOF":
                raise self.error("expected '}' to close the block")
            if start.kind == "IDENT" and start.value in ("describe", "export", "version"):
                raise self.error(f"{start.value} cannot be used inside a block")
            run = self.statement(allow_conditional=True)
            statements.append(Statement(start.line, self.lines[start.line - 1].strip(), run))
            if not self.is_op("}"):
                self.expect_end("after the statement")

    def batch_rule(self, path: TagPath, tokens: list[Token]) -> TagRule | None:
        """For ``?=``: a TagRule when the value is a literal or ``hashUID[same path]``."""
        if len(tokens) == 1 and tokens[0].kind in ("STRING", "NUMBER"):
            constant = str(tokens[0].value)
            return _rule(path, lambda old: constant, reads_old=False)
        if (
            tokens[0].kind == "IDENT"
            and tokens[0].value == "hashUID"
            and self.paths_in_value == [path.text]
            and not any(tok.kind == "OP" and tok.value == "," for tok in tokens)
        ):
            return _rule(path, hash_uid_values)
        return None

    def condition(self, left: Expr) -> Callable[[Context], bool]:
        if not self.is_op(*COMPARISONS):
            raise self.error(f"expected a comparison (=, !=, ~ or !~), found {_describe(self.tok)}")
        op = self.advance().value
        right_tok = self.tok
        right = self.value()
        return _comparison(op, left, right, self.literal_regex(right_tok, op))

    def conditional(self, left: Expr) -> Action:
        test = self.condition(left)
        self.expect_op("?", "after the condition")
        then = self.statement(allow_conditional=False)
        otherwise = None
        if self.is_op(":"):
            self.advance()
            otherwise = self.statement(allow_conditional=False)
        self.rule = None  # the actions' rules belong to them, not to the conditional
        return conditional(test, then, otherwise)

    def literal_regex(self, tok: Token, op: str) -> Regex | None:
        """Compile a literal regex at parse time so a bad one is a syntax error, not a failed import."""
        if op not in ("~", "!~") or tok.kind != "STRING" or self.tokens[self.pos - 1] is not tok:
            return None
        return self.regex(tok)

    def regex(self, tok: Token) -> Regex:
        try:
            return compile_regex(str(tok.value))
        except RegexError as exc:
            raise self.error(f"invalid regular expression {tok.value!r}: {exc}", tok) from None

    # --- values ----------------------------------------------------------------------------------------

    def value(self) -> Expr:
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return _constant(tok.value)
        if tok.kind == "NUMBER":
            self.advance()
            return _constant(tok.value)
        if self.is_op("-") and self.peek().kind == "NUMBER":
            self.advance()
            return _constant("-" + self.advance().value)
        if self.starts_path():
            return self.path_value(self.tag_path())
        if tok.kind == "IDENT":
            if tok.value == "new" and self.peek().kind == "IDENT" and self.peek().value == "UID":
                self.advance()
                self.advance()
                return lambda ctx: new_uid()
            if self.is_op("[", tok=self.peek()):
                function = FUNCTIONS.get(tok.value)
                if function is not None and function.statement:
                    raise self.error(
                        f"{tok.value} changes the dataset and has no value; write it on its own line"
                    )
                return self.call()
            self.advance()
            if tok.value == "newUID":
                return lambda ctx: new_uid()
            return self.variable(tok.value)
        raise self.error(f"expected a value, found {_describe(tok)}")

    def variable(self, name: str) -> Expr:
        described = self.described

        def get(ctx: Context) -> str:
            try:
                return ctx.variables[name]
            except KeyError:
                if name in described:
                    return ""
                raise ScriptRuntimeError(
                    f"variable {name!r} has no value: pass it, describe it or assign it first"
                ) from None

        return get

    def path_value(self, path: TagPath) -> Expr:
        self.paths_in_value.append(path.text)
        return lambda ctx: ctx.text_of(path)

    def call(self) -> Callable[[Context], str]:
        name_tok = self.advance()
        function = FUNCTIONS.get(name_tok.value)
        if function is None:
            raise self.error(_unknown_function(name_tok.value), name_tok)
        self.functions.add(function.name)
        self.expect_op("[", f"after {name_tok.value}")
        args: list[Expr | TagPath] = []
        while not self.is_op("]"):
            if args:
                self.expect_op(",", f"between the arguments of {function.name}")
            args.append(self.argument(function, len(args)))
        self.advance()
        message = function.arity_error(len(args))
        if message:
            raise self.error(message, name_tok)
        return _call(function, args)

    def argument(self, function: Function, position: int) -> "Expr | TagPath":
        kind = function.kind_of(position)
        tok = self.tok
        if kind == "path" and tok.kind == "STRING":
            self.advance()
            try:
                path = parse_tag_path(tok.value)
            except ScriptSyntaxError as exc:
                raise self.error(
                    f"{function.name} expects tag paths: {exc.message} in {tok.text}", tok
                ) from None
            self.paths_in_value.append(path.text)
            return path
        if kind in ("path", "path_or_value") and self.starts_path():
            path = self.tag_path()
            self.paths_in_value.append(path.text)
            return path
        if kind == "path":
            raise self.error(f"{function.name} expects a tag path, found {_describe(tok)}")
        if position == function.regex and tok.kind == "STRING":
            self.regex(tok)
        return self.value()

    # --- tag paths -------------------------------------------------------------------------------------

    def starts_path(self) -> bool:
        return self.tok.kind == "TAG" or (self.is_op(*PATH_START) and self.is_op("/", tok=self.peek()))

    def tag_path(self) -> TagPath:
        steps: list[Step] = []
        parts: list[str] = []
        while True:
            tok = self.tok
            if self.is_op(*PATH_START):
                self.advance()
                steps.append(
                    {"*": DepthStep(0, None), "+": DepthStep(1, None), ".": DepthStep(1, 1)}[tok.value]
                )
                parts.append(tok.value)
                if not self.is_op("/"):
                    raise self.error(f"expected '/' and a tag after '{tok.value}'")
            elif tok.kind == "TAG":
                self.advance()
                try:
                    matcher = element_matcher(*tok.value)
                except ValueError as exc:
                    raise self.error(str(exc), tok) from None
                index: int | None = None
                text = matcher.text
                if self.is_op("["):
                    self.advance()
                    if self.is_op("%"):
                        self.advance()
                    elif self.tok.kind == "NUMBER" and self.tok.value.isdigit():
                        index = int(self.advance().value)
                    else:
                        raise self.error(f"expected an item number or % in [ ], found {_describe(self.tok)}")
                    self.expect_op("]", "after the item number")
                    text += f"[{'%' if index is None else index}]"
                if not self.is_op("/"):
                    if text != matcher.text:
                        raise self.error(f"an item index must be followed by '/' and a tag, after {text}")
                    return TagPath("/".join([*parts, text]), tuple(steps), matcher)
                steps.append(SequenceStep(matcher, index))
                parts.append(text)
            else:
                raise self.error(f"expected a tag such as (0010,0010), found {_describe(tok)}")
            self.advance()  # the '/'


def _rule(path: TagPath, transform: Callable[[str], str] | None, reads_old: bool = True) -> TagRule | None:
    """A TagRule for ``(tag)`` or ``*/(tag)`` with an exact tag, else None."""
    if not isinstance(path.last, ExactTag) or path.steps not in ((), (DepthStep(0, None),)):
        return None
    return TagRule(path.last.tag, bool(path.steps), transform, reads_old)


def _batched(statements: list[tuple[Statement, TagRule | None]]) -> tuple[Statement, ...]:
    """Merge runs of batchable statements on distinct tags into single statements (same effect, one pass)."""
    result: list[Statement] = []
    run: list[tuple[Statement, TagRule]] = []

    def flush() -> None:
        if len(run) == 1:
            result.append(run[0][0])
        elif run:
            first = run[0][0]
            text = f"{first.text} and the {len(run) - 1} statements after it"
            result.append(Statement(first.line, text, batch([rule for _, rule in run])))
        run.clear()

    for statement, rule in statements:
        if rule is None or any(rule.tag == other.tag for _, other in run):
            flush()
        if rule is None:
            result.append(statement)
        else:
            run.append((statement, rule))
    flush()
    return tuple(result)


def _constant(text: str) -> Expr:
    return lambda ctx: text


def _call(function: Function, args: "list[Expr | TagPath]") -> Callable[[Context], str]:
    run = function.run

    def call(ctx: Context) -> str:
        values: list[Arg] = [arg if isinstance(arg, TagPath) else arg(ctx) for arg in args]
        return run(ctx, values)

    return call


def _comparison(op: str, left: Expr, right: Expr, pattern: Regex | None) -> Callable[[Context], bool]:
    if op == "=":
        return lambda ctx: left(ctx) == right(ctx)
    if op == "!=":
        return lambda ctx: left(ctx) != right(ctx)
    negate = op == "!~"

    def matches(ctx: Context) -> bool:
        regex = pattern if pattern is not None else _runtime_regex(right(ctx))
        return (regex.fullmatch(left(ctx)) is not None) != negate

    return matches


def _runtime_regex(text: str) -> Regex:
    try:
        return compile_regex(text)
    except RegexError as exc:
        raise ScriptRuntimeError(f"invalid regular expression {text!r}: {exc}") from None


def _unknown_function(name: str) -> str:
    return f"unknown function {name!r}; xnatlite knows {', '.join(sorted(FUNCTIONS))}"


def _describe(tok: Token) -> str:
    if tok.kind == "EOF":
        return "the end of the script"
    if tok.kind == "NEWLINE":
        return "the end of the line"
    return repr(tok.text)
