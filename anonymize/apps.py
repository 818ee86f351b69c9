from django.apps import AppConfig


class AnonymizeConfig(AppConfig):
    name = "anonymize"
    default_auto_field = "django.db.models.BigAutoField"
