from django.apps import AppConfig


class AnonymizeConfig(AppConfig):
    name = "anonymize"
    verbose_name = "Anonymization"
    default_auto_field = "django.db.models.BigAutoField"
