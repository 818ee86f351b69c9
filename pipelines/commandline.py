"""Command lines: the command's template with its replacement keys filled (XNAT's rules: a flag input
becomes `flag value`, a boolean prints its true-value or false-value, an absent optional input removes
its key), then the line each runtime runs.

Values are shell-quoted word by word: a string input may carry several flags (dcm2niix's
`other-options`) but never a shell construct, since whoever launches is not whoever added the command.

- `xnatlite-program`: `/bin/sh -c LINE` on the worker; each mount's path in the line (as a whole word
  or a path's start) becomes the folder it resolves to, like XNAT's path translation.
- `docker`/`podman`: `{runtime} run --rm ... IMAGE /bin/sh -c LINE`, mounts bound at their paths,
  inputs read-only.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from pipelines.documents import PROGRAM, CommandDocument, Input
from xnatlite.errors import InvalidInput


@dataclass(frozen=True)
class BoundMount:
    """A command mount and the folder on the worker it resolves to."""

    name: str
    path: str  # inside the container (or the template, for a program)
    host: Path
    writable: bool


def input_values(command: CommandDocument, given: dict[str, str]) -> dict[str, str | None]:
    """Every command input's value: given, else its default; None for an absent optional input.
    InvalidInput naming a required input that has none, or a value of the wrong type."""
    values: dict[str, str | None] = {}
    for spec in command.inputs:
        value = given.get(spec.name)
        if value is None or value == "":
            value = spec.default_value
        if value is None or value == "":
            if spec.required:
                raise InvalidInput(f"Input '{spec.name}' is required")
            values[spec.name] = None
            continue
        values[spec.name] = _checked(spec, str(value))
    return values


def _checked(spec: Input, value: str) -> str:
    if spec.type == "boolean":
        lowered = value.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off", "y", "n"):
            raise InvalidInput(f"Input '{spec.name}' is true or false, not '{value}'")
        return "true" if lowered in ("true", "1", "yes", "on", "y") else "false"
    if spec.type == "number":
        try:
            float(value)
        except ValueError:
            raise InvalidInput(f"Input '{spec.name}' is a number, not '{value}'") from None
    return value


def _words(value: str) -> str:
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise InvalidInput(f"Cannot read '{value}' as words: {exc}") from None
    return " ".join(shlex.quote(word) for word in words)


def _replacement(spec: Input, value: str | None) -> str:
    if value is None:
        return ""
    if spec.type == "boolean":
        printed = spec.true_value if value == "true" else spec.false_value
        if printed is None:
            printed = value
        value = printed
        if value == "":
            return ""
    text = _words(value)
    if spec.command_line_flag:
        return f"{shlex.quote(spec.command_line_flag)}{spec.command_line_separator}{text}"
    return text


def fill_template(command: CommandDocument, values: dict[str, str | None]) -> str:
    """The command line with every replacement key filled; spaces left by removed keys collapsed."""
    line = command.command_line
    for spec in command.inputs:
        key = spec.replacement_key or f"#{spec.name.upper()}#"
        line = line.replace(key, _replacement(spec, values.get(spec.name)))
    return re.sub(r"[ \t]{2,}", " ", line).strip()


def translate_paths(line: str, mounts: list[BoundMount]) -> str:
    """A program's line with each mount path (a whole word or a path's start) swapped for its folder."""
    for mount in sorted(mounts, key=lambda m: len(m.path), reverse=True):
        pattern = re.compile(r"(?<![\w./-])" + re.escape(mount.path.rstrip("/")) + r"(?=/|\s|$|;|&|\|)")
        line = pattern.sub(shlex.quote(str(mount.host)).replace("\\", "\\\\"), line)
    return line


def program_argv(command: CommandDocument, line: str, mounts: list[BoundMount]) -> list[str]:
    """What the worker runs for an `xnatlite-program` command."""
    assert command.type == PROGRAM
    return ["/bin/sh", "-c", translate_paths(line, mounts)]


def container_argv(
    command: CommandDocument,
    line: str,
    mounts: list[BoundMount],
    *,
    name: str,
    environment: dict[str, str] | None = None,
) -> list[str]:
    """The exact `docker run` / `podman run` for a container command."""
    runtime = command.type
    argv = [runtime, "run", "--rm", "--name", name]
    for mount in mounts:
        argv += ["--volume", f"{mount.host}:{mount.path}:{'rw' if mount.writable else 'ro'}"]
    if command.working_directory:
        argv += ["--workdir", command.working_directory]
    for key, value in sorted({**command.environment_variables, **(environment or {})}.items()):
        argv += ["--env", f"{key}={value}"]
    if command.limit_memory:
        argv += ["--memory", f"{command.limit_memory}m"]
    if command.limit_cpu:
        argv += ["--cpus", f"{command.limit_cpu:g}"]
    argv += ["--entrypoint", "", command.image, "/bin/sh", "-c", line]
    return argv
