"""Celery tasks of the prearchive: ids and plain values in, one service call, nothing else."""

from celery import shared_task

from archiving import ArchiveRequest
from prearchive import handoff, sweep
from xnatlite import permissions


@shared_task(ignore_result=True)
def build_idle_sessions() -> None:
    """Celery beat runs this every XNATLITE_SESSION_CHECK_SECONDS (xnatlite/settings.py)."""
    sweep.build_idle_sessions()


@shared_task(ignore_result=True)
def archive_prearchive_session(session_id: int, actor: int | str | None, request: dict) -> None:
    """Archive a queued prearchive session. `actor` is a user id, or a system actor's name (None:
    auto-archive). Late acknowledgement: a worker that dies mid-way gets the task delivered again,
    and the run resumes or undoes the interrupted one (archiving/service.py)."""
    handoff.archive_queued(
        session_id, actor=permissions.actor_from_plain(actor), request=ArchiveRequest.from_dict(request)
    )
