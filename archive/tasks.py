"""Celery tasks of the archive: ids in, one service call, nothing else."""

from celery import shared_task

from archive import previews


@shared_task(ignore_result=True)
def make_previews(session_id: int) -> None:
    """PNG previews of an archived session's scans that lack one (after archiving, on commit)."""
    previews.make_session_previews(session_id)
