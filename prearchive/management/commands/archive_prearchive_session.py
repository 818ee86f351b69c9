"""`manage.py archive_prearchive_session ID|/prearchive/projects/P/TS/S [--project P] [--subject S]
[--label L] [--overwrite none|append|delete] [--overwrite-files] [--confirm-identifiers] [--user NAME]`: archive one prearchive
session in this process, or resume one whose archiving was interrupted (for administrators)."""

from django.core.management.base import BaseCommand, CommandError

from archiving import OVERWRITE_MODES
from prearchive import handoff
from prearchive.models import PrearchiveSession
from xnatlite import permissions, projects
from xnatlite.errors import XnatliteError

ACTOR = permissions.command_actor("archive_prearchive_session")


def find_session(spec: str) -> PrearchiveSession:
    if spec.isdigit():
        session = PrearchiveSession.objects.select_related("project").filter(pk=int(spec)).first()
    else:
        parts = [p for p in spec.strip("/").split("/") if p]
        if len(parts) != 5 or parts[:2] != ["prearchive", "projects"]:
            raise CommandError(f"'{spec}' is neither an id nor /prearchive/projects/P/TS/S")
        project = None if parts[2] == "Unassigned" else parts[2]
        session = PrearchiveSession.objects.filter(
            project_id=project, timestamp=parts[3], folder_name=parts[4]
        ).first()
    if session is None:
        raise CommandError(f"No prearchive session {spec}")
    return session


class Command(BaseCommand):
    help = "Archive one prearchive session now (or resume an interrupted archive)."

    def add_arguments(self, parser):
        parser.add_argument("session", help="prearchive session id, or /prearchive/projects/P/TS/S")
        parser.add_argument("--project", default="")
        parser.add_argument("--subject", default="")
        parser.add_argument("--label", default="")
        parser.add_argument("--overwrite", default="none", choices=OVERWRITE_MODES)
        parser.add_argument("--overwrite-files", action="store_true")
        parser.add_argument(
            "--confirm-identifiers",
            action="store_true",
            help="archive labels that look like a person's name or a medical record number",
        )
        parser.add_argument("--user", default="", help="act as this user (permissions checked, audited)")

    def handle(self, *args, session: str, user: str, **options):
        found = find_session(session)
        asked = {
            name: options[name]
            for name in ("project", "subject", "label", "overwrite", "overwrite_files", "confirm_identifiers")
            if options[name] and options[name] != "none"
        }
        try:
            # Without labels, an interrupted archive resumes with what was asked first (its journal).
            outcome = handoff.archive_session(found, by=projects.find_user(user) if user else ACTOR, **asked)
        except XnatliteError as exc:
            raise CommandError(str(exc)) from None
        archived = outcome.session
        self.stdout.write(
            f"archived as {archived.project_id}/{archived.label}: {outcome.files} files "
            f"({outcome.linked} unchanged), {outcome.rejected} rejected, {outcome.replaced} replaced"
        )
