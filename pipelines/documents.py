"""Command documents in XNAT Container Service's JSON format (reference/xnat-container-commands.md),
parsed with pydantic so a refused document names the field at fault ("inputs.0.type: ...").

Kept: what a run needs (command line, mounts, inputs, outputs, wrappers with their external and
derived inputs and output handlers). Fields XNAT has and we do not use yet (ports, setup and wrap-up
commands, ...) are accepted and ignored, so public command files load as they are. The older spellings
(`derived-from-xnat-input`, `as-a-child-of-xnat-input`) are accepted for the current ones, and XNAT's
"true"/"false" strings for booleans.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from xnatlite.errors import InvalidInput

# Our own type: a program installed on the workers, run without a container (pipelines/runner.py).
PROGRAM = "xnatlite-program"
CONTAINER_TYPES = ("docker", "podman")
SESSION_CONTEXTS = frozenset(
    {"xnat:imageSessionData", "xnat:mrSessionData", "xnat:ctSessionData", "xnat:petSessionData"}
)
SCAN_CONTEXTS = frozenset({"xnat:imageScanData", "xnat:mrScanData", "xnat:ctScanData", "xnat:petScanData"})

# The matchers we evaluate (pipelines/matchers.py); any other is refused when the command is saved.
MATCHER = re.compile(
    r"""^\s*(?:['"](?P<value>[^'"]*)['"]\s+in\s+@\.(?P<list>[\w-]+)\[\*\]\.(?P<item>[\w-]+)"""
    r"""|@\.(?P<field>[\w-]+)\s*(?P<op>==|!=)\s*['"](?P<other>[^'"]*)['"])\s*$"""
)


class Part(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


def _matcher(value: str | None) -> str | None:
    if value and not MATCHER.match(value):
        raise ValueError(
            "matchers of the form 'X' in @.list[*].field or @.field == 'X' are supported; not " + repr(value)
        )
    return value or None


class Mount(Part):
    name: str = Field(min_length=1)
    writable: bool = False
    path: str = Field(min_length=1)


class Input(Part):
    name: str = Field(min_length=1)
    description: str = ""
    type: Literal["string", "boolean", "number", "file"] = "string"
    required: bool = False
    default_value: str | None = Field(None, alias="default-value")
    replacement_key: str | None = Field(None, alias="replacement-key")
    command_line_flag: str | None = Field(None, alias="command-line-flag")
    command_line_separator: str = Field(" ", alias="command-line-separator")
    true_value: str | None = Field(None, alias="true-value")
    false_value: str | None = Field(None, alias="false-value")
    sensitive: bool = False

    @field_validator("default_value", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if value is None else str(value)


class Output(Part):
    name: str = Field(min_length=1)
    description: str = ""
    mount: str = Field(min_length=1)
    path: str = ""
    glob: str = ""
    required: bool = True


class ObjectInput(Part):
    """What external and derived inputs share: a name, a matcher, the command input or mount it feeds."""

    name: str = Field(min_length=1)
    matcher: str | None = None
    provides_value_for_command_input: str | None = Field(None, alias="provides-value-for-command-input")
    provides_files_for_command_mount: str | None = Field(None, alias="provides-files-for-command-mount")

    @field_validator("matcher")
    @classmethod
    def _check_matcher(cls, value: str | None) -> str | None:
        return _matcher(value)


class ExternalInput(ObjectInput):
    type: Literal["Project", "Subject", "Session", "Scan", "Assessor", "Resource", "Config"]
    required: bool = True


class DerivedInput(ObjectInput):
    type: Literal["Project", "Subject", "Session", "Scan", "Assessor", "Resource", "File", "string"]
    derived_from: str = Field(
        validation_alias=AliasChoices("derived-from-wrapper-input", "derived-from-xnat-input"), min_length=1
    )
    derived_from_property: str | None = Field(None, alias="derived-from-xnat-object-property")


class OutputHandler(Part):
    name: str = Field(min_length=1)
    accepts_command_output: str = Field(alias="accepts-command-output", min_length=1)
    as_a_child_of: str = Field(
        validation_alias=AliasChoices(
            "as-a-child-of", "as-a-child-of-wrapper-input", "as-a-child-of-xnat-input"
        ),
        min_length=1,
    )
    type: Literal["Resource"] = "Resource"
    label: str = Field(min_length=1)
    format: str = ""
    content: str = ""
    tags: list[str] = []


class WrapperDocument(Part):
    name: str = Field(min_length=1)
    label: str = ""
    description: str = ""
    contexts: list[str] = Field(min_length=1)
    external_inputs: list[ExternalInput] = Field(alias="external-inputs", min_length=1)
    derived_inputs: list[DerivedInput] = Field([], alias="derived-inputs")
    output_handlers: list[OutputHandler] = Field([], alias="output-handlers")

    @field_validator("contexts")
    @classmethod
    def _known_contexts(cls, contexts: list[str]) -> list[str]:
        unknown = [c for c in contexts if c not in SESSION_CONTEXTS | SCAN_CONTEXTS]
        if unknown:
            raise ValueError(f"only session and scan contexts are supported yet, not {', '.join(unknown)}")
        return contexts

    @property
    def level(self) -> str:
        """'scan' or 'session': what the wrapper is launched on."""
        return "scan" if set(self.contexts) <= SCAN_CONTEXTS else "session"


class CommandDocument(Part):
    name: str = Field(min_length=1, max_length=255)
    label: str = ""
    description: str = ""
    version: str = Field("", max_length=64)
    schema_version: str = Field("", alias="schema-version")
    info_url: str = Field("", alias="info-url")
    type: Literal["docker", "podman", "xnatlite-program"]
    image: str = ""
    working_directory: str = Field(
        "", validation_alias=AliasChoices("working-directory", "workdir", "working_directory")
    )
    command_line: str = Field(alias="command-line", min_length=1)
    limit_memory: int | None = Field(None, alias="limit-memory", gt=0)
    limit_cpu: float | None = Field(None, alias="limit-cpu", gt=0)
    environment_variables: dict[str, str] = Field({}, alias="environment-variables")
    mounts: list[Mount] = []
    inputs: list[Input] = []
    outputs: list[Output] = []
    xnat: list[WrapperDocument] = []

    @model_validator(mode="after")
    def _links(self) -> CommandDocument:
        """Every name a part refers to exists."""
        if self.type in CONTAINER_TYPES and not self.image:
            raise ValueError("image: a docker or podman command needs an image")
        mounts = {m.name for m in self.mounts}
        inputs = {i.name for i in self.inputs}
        outputs = {o.name for o in self.outputs}
        for n, output in enumerate(self.outputs):
            if output.mount not in mounts:
                raise ValueError(f"outputs.{n}.mount: no mount named '{output.mount}'")
        for w, wrapper in enumerate(self.xnat):
            names = {i.name for i in wrapper.external_inputs} | {i.name for i in wrapper.derived_inputs}
            parts: list[tuple[str, list[ObjectInput]]] = [
                ("external-inputs", list(wrapper.external_inputs)),
                ("derived-inputs", list(wrapper.derived_inputs)),
            ]
            for kind, items in parts:
                for n, item in enumerate(items):
                    where = f"xnat.{w}.{kind}.{n}"
                    if item.provides_value_for_command_input not in (None, *inputs):
                        raise ValueError(
                            f"{where}: no command input '{item.provides_value_for_command_input}'"
                        )
                    if item.provides_files_for_command_mount not in (None, *mounts):
                        raise ValueError(f"{where}: no mount '{item.provides_files_for_command_mount}'")
            for n, derived in enumerate(wrapper.derived_inputs):
                if derived.derived_from not in names:
                    raise ValueError(
                        f"xnat.{w}.derived-inputs.{n}: no wrapper input '{derived.derived_from}'"
                    )
            for n, handler in enumerate(wrapper.output_handlers):
                if handler.accepts_command_output not in outputs:
                    raise ValueError(
                        f"xnat.{w}.output-handlers.{n}: no output '{handler.accepts_command_output}'"
                    )
                if handler.as_a_child_of not in names:
                    raise ValueError(
                        f"xnat.{w}.output-handlers.{n}: no wrapper input '{handler.as_a_child_of}'"
                    )
        return self

    def wrapper(self, name: str) -> WrapperDocument:
        for wrapper in self.xnat:
            if wrapper.name == name:
                return wrapper
        raise KeyError(name)


def parse_command(document: str | dict) -> CommandDocument:
    """A command document from its JSON text (or the parsed dict); InvalidInput naming the field."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"The command is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput("The command must be a JSON object")
    try:
        return CommandDocument.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise InvalidInput("Invalid command: " + "; ".join(problems)) from None
