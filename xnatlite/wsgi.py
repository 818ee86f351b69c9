"""WSGI entry point for gunicorn (docker-compose) and waitress (`manage.py serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xnatlite.settings")

application = get_wsgi_application()
