"""DicomEdit 6 interpreter: parse a script once, apply it to many pydicom datasets (pydicom, dicomio and the stdlib only)."""

from .dryrun import Change, DateRow, Preview, dry_run, preview
from .errors import InvalidDicomFile, ScriptRuntimeError, ScriptSyntaxError
from .evaluator import NO_SERVICES, ApplyResult, RecordInfo, Script, Services, Variable, add_record
from .files import apply_to_file, read_dicom
from .functions import FUNCTIONS, hash_uid, map_uid, new_uid
from .parser import parse_script, parse_tag_path

__all__ = [
    "FUNCTIONS",
    "NO_SERVICES",
    "ApplyResult",
    "Change",
    "DateRow",
    "InvalidDicomFile",
    "Preview",
    "RecordInfo",
    "Script",
    "ScriptRuntimeError",
    "ScriptSyntaxError",
    "Services",
    "Variable",
    "add_record",
    "apply_to_file",
    "dry_run",
    "hash_uid",
    "map_uid",
    "new_uid",
    "parse_script",
    "parse_tag_path",
    "preview",
    "read_dicom",
]
