# One image for every xnatlite process: web (gunicorn), Celery workers, the DICOM receiver, the scheduler.
# Everything the project needs is copied (what it does not is in .dockerignore), so a new app is in
# the image without this file naming it; tests/test_image.py installs the same files into a fresh
# virtual environment and runs `check --deploy` and `collectstatic`, as this build does.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 XNATLITE_DATA_ROOT=/data XNATLITE_STATIC_ROOT=/app/staticfiles
RUN useradd --system --uid 10001 --home-dir /app --no-create-home xnatlite \
    && mkdir -p /data /secrets && chown xnatlite:xnatlite /data /secrets
WORKDIR /app
COPY . .
RUN pip install . \
    && SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && SECRET_KEY=build-only python manage.py check --deploy --fail-level ERROR
# The processes run unprivileged; the archive on /data belongs to this user (uid 10001).
USER xnatlite
VOLUME /data
EXPOSE 8000 8104
CMD ["gunicorn", "xnatlite.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "600"]
