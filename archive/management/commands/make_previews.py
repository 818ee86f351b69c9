"""`manage.py make_previews [--project P] [--session ID_OR_LABEL] [--missing]`: make the preview images of
archived sessions again, in this process (for site admins: after a lost task, a changed preview
renderer, files restored by hand). Without options: every archived session."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from archive import previews
from archive.models import ImageSession
from xnatlite import audit, permissions

ACTOR = permissions.command_actor("make_previews")


class Command(BaseCommand):
    help = "Make the preview images of archived sessions again."

    def add_arguments(self, parser):
        parser.add_argument("--project", default="", help="only this project's sessions")
        parser.add_argument(
            "--session", default="", help="only this session (accession ID, or label with --project)"
        )
        parser.add_argument(
            "--missing", action="store_true", help="only sessions with a scan without previews"
        )

    def handle(self, *args, project: str, session: str, missing: bool, **options):
        sessions = ImageSession.objects.order_by("project_id", "label")
        if project:
            sessions = sessions.filter(project_id=project)
        if session:
            sessions = sessions.filter(accession_id=session) | sessions.filter(
                project_id=project, label__iexact=session
            )
        if missing:
            sessions = sessions.filter(pk__in=previews.sessions_missing_previews(timezone.now(), limit=None))
        ids = list(sessions.values_list("pk", flat=True))
        if (project or session) and not ids:
            raise CommandError("No archived session matches")
        scans = 0
        for session_id in ids:
            scans += previews.make_session_previews(session_id)
        audit.record(ACTOR, "archive.previews.remade", None, sessions=len(ids), scans=scans)
        self.stdout.write(f"previews made for {scans} scans of {len(ids)} sessions")
