"""Celery tasks of the archive: ids and plain values in, one service call, nothing else."""

from celery import shared_task

from archive import previews
from archiving import ArchiveRequest, actor_from, run_archive


@shared_task(ignore_result=True)
def archive_prearchive_session(session_id: int, actor: int | str | None, request: dict) -> None:
    """Archive a queued prearchive session. `actor` is a user id, or a system actor's name (None:
    auto-archive). Late acknowledgement: a worker that dies mid-way gets the task delivered again,
    and the service resumes or undoes the interrupted run (archiving/service.py)."""
    run_archive(session_id, actor=actor_from(actor), request=ArchiveRequest.from_dict(request))


@shared_task(ignore_result=True)
def make_previews(session_id: int) -> None:
    """PNG previews of an archived session's scans that lack one (after archiving, on commit)."""
    previews.make_session_previews(session_id)
