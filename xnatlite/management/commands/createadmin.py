"""Create or update a site admin account without interaction (first start, scripts, containers)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from xnatlite import audit, permissions

ACTOR = permissions.SystemActor("createadmin", frozenset())  # accounts are Django's: no project action


def ensure_admin(username: str, password: str, email: str = "") -> tuple[object, bool]:
    """Make `username` an active superuser with this password; returns (user, created)."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username, defaults={"email": email})
    user.is_staff = user.is_superuser = user.is_active = True
    if email:
        user.email = email
    user.set_password(password)
    user.save()
    audit.record(ACTOR, "auth.admin.created" if created else "auth.admin.updated", username)
    return user, created


class Command(BaseCommand):
    help = (
        "Create (or reset the password of) a site admin. Reads --username/--password, or the "
        "XNATLITE_ADMIN_USERNAME / XNATLITE_ADMIN_PASSWORD / XNATLITE_ADMIN_EMAIL variables."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=settings.ADMIN_USERNAME)
        parser.add_argument("--password", default=settings.ADMIN_PASSWORD)
        parser.add_argument("--email", default=settings.ADMIN_EMAIL)

    def handle(self, *args, username: str, password: str, email: str, **options):
        if not username or not password:
            raise CommandError(
                "Give --username and --password, or set XNATLITE_ADMIN_USERNAME and XNATLITE_ADMIN_PASSWORD"
            )
        _, created = ensure_admin(username, password, email)
        self.stdout.write(f"Site admin '{username}' {'created' if created else 'updated'}.")
