from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PipelinesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pipelines"
    verbose_name = "Pipelines"

    def ready(self) -> None:
        post_migrate.connect(_load_builtins, sender=self)


def _load_builtins(sender: AppConfig, **kwargs: object) -> None:
    """Every `migrate` adds or updates the built-in commands (pipelines/builtin/)."""
    from pipelines import services

    services.load_builtin_commands()
