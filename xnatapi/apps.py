from django.apps import AppConfig


class XnatApiConfig(AppConfig):
    name = "xnatapi"
    verbose_name = "XNAT-compatible REST API"
