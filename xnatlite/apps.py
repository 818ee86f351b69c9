from django.apps import AppConfig


class XnatliteConfig(AppConfig):
    name = "xnatlite"
    verbose_name = "Projects, requests and audit log"

    def ready(self) -> None:
        from xnatlite import signin  # noqa: F401 - connects the sign-in throttling's receivers
