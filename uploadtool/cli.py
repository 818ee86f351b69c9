"""`xnatlite-upload`: list the DICOM studies of a folder, or send them to a project.

    xnatlite-upload list FOLDER
    xnatlite-upload send FOLDER --server URL --project P [--subject S] [--session E]
                    [--study UID ...] [--archive [--overwrite append|delete] [--confirm-identifiers]]
                    [--user NAME]

The password comes from XNATLITE_PASSWORD or is asked for; the server and the user may also come from
XNATLITE_URL and XNATLITE_USER. Exit status: 0 when every chosen study was sent, 1 when one failed
(the others are still sent), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import time
from pathlib import Path

from uploadtool.client import Client, UploadError
from uploadtool.studies import Study, find_studies, pack

LABEL_HELP = "letters, digits, _ and - (1-64 characters), as the server requires"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _describe(study: Study) -> str:
    modalities = "/".join(sorted(study.modalities)) or "?"
    return (
        f"{study.uid}\n    {modalities} {study.date or 'no date'}  {study.description or 'no description'}"
        f"  patient {study.patient_name or '?'} ({study.patient_id or 'no ID'})"
        f"  accession {study.accession or '-'}\n"
        f"    {len(study.series)} series, {len(study.files)} files, {_size(study.size)}"
    )


class Progress:
    """Upload progress on stderr: a line rewritten in place on a terminal, every 10 % otherwise."""

    def __init__(self, label: str, stream=sys.stderr):
        self.label, self.stream = label, stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last_shown, self.last_step = 0.0, -1

    def __call__(self, sent: int, total: int) -> None:
        fraction = sent / total if total else 1.0
        now = time.monotonic()
        rate = sent / max(now - self.started, 1e-6)
        line = f"{self.label}: {fraction:4.0%} {_size(sent)} of {_size(total)}, {_size(rate)}/s"
        if self.tty:
            if now - self.last_shown >= 0.1 or sent == total:
                self.stream.write("\r" + line.ljust(78))
                self.last_shown = now
            if sent == total:
                self.stream.write("\n")
        elif int(fraction * 10) > self.last_step:
            self.last_step = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xnatlite-upload",
        description="Send DICOM studies from a folder to an xnatlite (or XNAT) project, study by study.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show the DICOM studies found in a folder")
    listing.add_argument("folder", type=Path)
    send = commands.add_parser("send", help="upload the studies of a folder into a project")
    send.add_argument("folder", type=Path)
    send.add_argument(
        "--server", default=os.environ.get("XNATLITE_URL"), help="e.g. https://xnat.example.org/"
    )
    send.add_argument("--user", default=os.environ.get("XNATLITE_USER") or getpass.getuser())
    send.add_argument("--project", required=True, help="the project's ID")
    send.add_argument("--subject", default="", help=f"subject label ({LABEL_HELP}); else the server routes")
    send.add_argument("--session", default="", help=f"session label ({LABEL_HELP}); one study only")
    send.add_argument(
        "--study", action="append", default=[], help="send only this StudyInstanceUID (repeatable)"
    )
    send.add_argument(
        "--archive", action="store_true", help="archive at once instead of leaving the session for review"
    )
    send.add_argument(
        "--overwrite",
        choices=["none", "append", "delete"],
        default="none",
        help="with --archive, what to do when the session exists (default: refuse)",
    )
    send.add_argument(
        "--confirm-identifiers",
        action="store_true",
        help="with --archive, archive subject or session labels that look like a person's name or a "
        "medical record number (refused without it; the study then waits in the prearchive for review)",
    )
    return parser


def _list(folder: Path) -> int:
    found = find_studies(folder)
    for study in found.studies:
        print(_describe(study))
    print(f"{len(found.studies)} studies; {len(found.skipped)} files that are not DICOM instances skipped")
    return 0


def _chosen(found, wanted: list[str]) -> list[Study]:
    if not wanted:
        return found.studies
    by_uid = {s.uid: s for s in found.studies}
    missing = [uid for uid in wanted if uid not in by_uid]
    if missing:
        raise UploadError(f"No study {', '.join(missing)} in the folder (`xnatlite-upload list` shows them)")
    return [by_uid[uid] for uid in wanted]


def _send(args) -> int:
    if not args.server:
        raise UploadError("Say which server: --server https://xnat.example.org/ (or XNATLITE_URL)")
    if not args.folder.is_dir():
        raise UploadError(f"{args.folder} is not a folder")
    password = os.environ.get("XNATLITE_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise UploadError("No password: set XNATLITE_PASSWORD or run the tool in a terminal")
        password = getpass.getpass(f"Password for {args.user} on {args.server}: ")
    client = Client(args.server, args.user, password)
    client.check_project(args.project)  # wrong password or project: said before any upload
    found = find_studies(args.folder)
    studies = _chosen(found, args.study)
    if not studies:
        raise UploadError(f"No DICOM studies in {args.folder} ({len(found.skipped)} other files)")
    if args.session and len(studies) > 1:
        raise UploadError(
            f"--session names one session, but {len(studies)} studies would be sent: choose one with --study"
        )
    print(
        f"{len(studies)} studies to send to project {args.project}; {len(found.skipped)} other files skipped"
    )
    params = {"project": args.project}
    if args.subject:
        params["subject"] = args.subject
    if args.session:
        params["session"] = args.session
    if args.archive:
        params.update({"dest": "/archive", "overwrite": args.overwrite})
        if args.confirm_identifiers:
            params["confirmIdentifiers"] = "true"
    failed = 0
    for number, study in enumerate(studies, 1):
        label = f"study {number} of {len(studies)}"
        print(_describe(study))
        zip_path = pack(study, args.folder)
        try:
            uris = client.import_zip(zip_path, params, progress=Progress(f"  sending {label}"))
        except UploadError as exc:
            failed += 1
            print(f"  {label} failed: {exc}", file=sys.stderr)
            continue
        finally:
            zip_path.unlink(missing_ok=True)
        for uri in uris:
            print(f"  -> {uri}")
    if failed:
        print(f"{failed} of {len(studies)} studies failed", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("pydicom").setLevel(logging.ERROR)  # its complaints about files that are not DICOM
    try:
        if args.command == "list":
            return _list(args.folder)
        return _send(args)
    except UploadError as exc:
        print(f"xnatlite-upload: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xnatlite-upload: interrupted", file=sys.stderr)
        return 1
