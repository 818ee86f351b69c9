"""Celery tasks of the prearchive: ids in, service call, nothing else."""

from celery import shared_task

from prearchive import builder


@shared_task(ignore_result=True)
def build_idle_sessions() -> None:
    """Celery beat runs this every XNATLITE_SESSION_CHECK_SECONDS (xnatlite/settings.py)."""
    builder.build_idle_sessions()
