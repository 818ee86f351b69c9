from django.apps import AppConfig


class PrearchiveConfig(AppConfig):
    name = "prearchive"
    default_auto_field = "django.db.models.BigAutoField"
