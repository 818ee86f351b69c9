"""Pipelines' Celery tasks: ids in, one service call."""

from celery import shared_task

from pipelines import runner, services


@shared_task(acks_late=False)  # a run is not repeated because a worker died: the sweep fails it
def run_pipeline(run_id: int) -> None:
    runner.execute(run_id)


@shared_task
def fail_stale_runs() -> None:
    services.fail_stale_runs()
