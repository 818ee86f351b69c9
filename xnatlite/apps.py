from django.apps import AppConfig


class XnatliteConfig(AppConfig):
    name = "xnatlite"
