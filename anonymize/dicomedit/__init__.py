"""DicomEdit 6 interpreter: parse a script once, apply it to many pydicom datasets (pydicom, dicomio and the stdlib only)."""

from .dryrun import Change, dry_run
from .errors import InvalidDicomFile, ScriptRuntimeError, ScriptSyntaxError
from .evaluator import ApplyResult, RecordInfo, Script, Variable, add_record
from .files import apply_to_file, read_dicom
from .functions import FUNCTIONS, hash_uid, new_uid
from .parser import parse_script, parse_tag_path

__all__ = [
    "FUNCTIONS",
    "ApplyResult",
    "Change",
    "InvalidDicomFile",
    "RecordInfo",
    "Script",
    "ScriptRuntimeError",
    "ScriptSyntaxError",
    "Variable",
    "add_record",
    "apply_to_file",
    "dry_run",
    "hash_uid",
    "new_uid",
    "parse_script",
    "parse_tag_path",
    "read_dicom",
]
