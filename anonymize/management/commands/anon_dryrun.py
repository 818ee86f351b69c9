"""`manage.py anon_dryrun FILE`: show what a script would change in one DICOM file, without writing it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from anonymize import services
from xnatlite.errors import XnatliteError
from xnatlite.models import Project


class Command(BaseCommand):
    help = "Dry run of the site script (default), a project's script or a script file on one DICOM file."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the DICOM file to try the script on (only read)")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--project", help="use this project's script (and its ID as `project`)")
        which.add_argument("--script", type=Path, help="use the script in this file")
        parser.add_argument("--subject", default="SUBJECT", help="value of the `subject` variable")
        parser.add_argument("--session", default="SESSION", help="value of the `session` variable")
        parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="more variables")

    def handle(
        self,
        *args,
        file: Path,
        project: str | None,
        script: Path | None,
        subject: str,
        session: str,
        var: list[str],
        **options,
    ):
        variables = {"project": project or "Unassigned", "subject": subject, "session": session}
        for item in var:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--var takes NAME=VALUE, not {item!r}")
            variables[name] = value
        if script is not None:
            text, source = script.read_text(encoding="utf-8"), str(script)
        elif project is not None:
            found = Project.objects.filter(pk=project).first()
            if found is None:
                raise CommandError(f"No project '{project}'")
            text, source = services.get_project_script(found).text, f"project {project} script"
        else:
            text, source = services.get_site_script().text, "site script"
        try:
            changes = services.dry_run_file(text, file, variables).changes
        except XnatliteError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{source} on {file}: {len(changes)} change(s)")
        width = max((len(c.path) for c in changes), default=10)
        for change in changes:
            before = "-" if change.before is None else repr(change.before)
            after = "-" if change.after is None else repr(change.after)
            self.stdout.write(
                f"{change.action:8} {change.path:<{width}} {change.keyword:<32} {before} -> {after}"
            )
