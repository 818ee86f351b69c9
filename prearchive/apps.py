from django.apps import AppConfig


class PrearchiveConfig(AppConfig):
    name = "prearchive"
    verbose_name = "Prearchive"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A new project ID or alias that data waiting in Unassigned would route to needs a site admin
        # (xnatlite/projects.py): the kernel imports no app, so the prearchive tells it what waits.
        from django.conf import settings

        from dicomio import inflation
        from prearchive import queries
        from xnatlite import projects

        projects.register_waiting_data_check(queries.unassigned_data_answers_to)
        # Deflated instances inflate within the site's bounds, read when asked (tests change them).
        inflation.use_limits(lambda: (settings.UPLOAD_MAX_RATIO, settings.INFLATED_MAX_BYTES))
