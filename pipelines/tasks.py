"""Pipelines' Celery tasks: ids in, one service call."""

from celery import shared_task
from django.conf import settings

from pipelines import runner, services


# A run is not repeated because a worker died (the sweep fails it); its own wall-clock limit ends it
# before Celery's task limits would.
@shared_task(
    acks_late=False,
    soft_time_limit=settings.PIPELINE_TIMEOUT_SECONDS + 240,
    time_limit=settings.PIPELINE_TIMEOUT_SECONDS + 300,
)
def run_pipeline(run_id: int) -> None:
    runner.execute(run_id)


@shared_task
def fail_stale_runs() -> None:
    services.fail_stale_runs()
