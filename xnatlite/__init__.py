"""The xnatlite Django project: settings, URLs, the Celery app and the all-in-one server."""

from xnatlite.celery import app as celery_app

__all__ = ["celery_app"]
