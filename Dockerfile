# One image for every xnatlite process: web (gunicorn), Celery workers, the DICOM receiver, the scheduler.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 XNATLITE_DATA_ROOT=/data XNATLITE_STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY pyproject.toml README.md ./
COPY xnatlite xnatlite
COPY archive archive
COPY prearchive prearchive
COPY anonymize anonymize
COPY dicom_receiver dicom_receiver
RUN pip install .
COPY manage.py ./
COPY templates templates
COPY static static
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
VOLUME /data
EXPOSE 8000 8104
CMD ["gunicorn", "xnatlite.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "600"]
