from django.apps import AppConfig


class XnatliteConfig(AppConfig):
    name = "xnatlite"

    def ready(self) -> None:
        from xnatlite import signin  # noqa: F401 - connects the sign-in throttling's receivers
