"""The errors services raise, each with a message a person can act on.

Every edge translates them in one place: views show a page, the REST API answers with XNAT's status
and a plain-text body, the DICOM receiver answers with a DICOM status, tasks store the reason.
"""


class XnatliteError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(XnatliteError):
    """The object does not exist, or the user may not know that it does."""


class Forbidden(XnatliteError):
    """The user may see the object but not do this to it."""


class InvalidInput(XnatliteError):
    """A request's value is not acceptable (a bad field, a missing parameter)."""


class InvalidLabel(InvalidInput):
    """A label or ID that cannot become a folder name."""


class InvalidScript(InvalidInput):
    """An anonymization script that does not parse."""


class InvalidDicom(InvalidInput):
    """A file that is not DICOM, is truncated, or lacks what we need (SOP UIDs)."""


class ArchiveConflict(XnatliteError):
    """The data collides with what is already archived; overwrite settings decide."""


class UnconfirmedIdentifiers(ArchiveConflict):
    """Labels that look like a person's name or a medical record number, archived only when the person
    archiving confirms them (archiving/identity.py); `findings` says what each one looks like."""

    def __init__(self, message: str, findings: list[str]):
        super().__init__(message)
        self.findings = findings


class InvalidStatus(XnatliteError):
    """The object is not in a state that allows the operation (e.g. archiving an ARCHIVING session)."""
