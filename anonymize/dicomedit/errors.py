"""The errors the DicomEdit interpreter raises: one for scripts that do not parse, one for scripts that fail
on a dataset, one for files that are not DICOM."""


class ScriptSyntaxError(ValueError):
    """The script text does not follow the DicomEdit 6 grammar; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.message = message
        self.line = line
        self.column = column


class ScriptRuntimeError(RuntimeError):
    """A statement failed on a dataset; the dataset may be half-edited and must be thrown away."""

    def __init__(self, message: str, line: int = 0, statement: str = "") -> None:
        where = f"line {line} ({statement}): " if line else ""
        super().__init__(f"{where}{message}")
        self.message = message
        self.line = line
        self.statement = statement


class InvalidDicomFile(ValueError):
    """The file is not DICOM Part 10, or it is truncated."""
