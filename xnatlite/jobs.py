"""Work for the Celery workers, queued by task name once the current transaction commits.

A service names the task it queues (`"archive.tasks.make_previews"`) instead of importing the task's
module: tasks are edges that call services, so a service importing them would make a cycle. Without
a broker the task runs in this process at commit (CELERY_TASK_ALWAYS_EAGER), the same code path.

Every task queued here leaves its work findable in the database (a session QUEUED_ARCHIVING, an
archived session without previews), and the periodic sweep queues the task again when it was lost: a
broker restarted without its queue, or one that could not be reached at commit. So a broker that
cannot be reached never fails what already committed: it is logged, and the sweep finishes the work.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)


def enqueue(name: str, *args: object, best_effort: bool = False) -> None:
    """Queue task `name` with plain `args` (ids, strings, dicts) after the commit of the current
    transaction (at once outside one). An unknown name fails here, before anything commits; a broker
    that cannot be reached is logged (the sweep queues the task again). Without a broker the task runs
    here and its errors are raised, unless `best_effort` (previews: they never fail an archive)."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()  # every app's tasks module, once per process
    task = current_app.tasks[name]

    def send() -> None:
        try:
            task.delay(*args)
        except Exception:
            if current_app.conf.task_always_eager and not best_effort:
                raise  # no broker: the task itself failed, in this process
            log.exception("task %s%r failed or could not be queued; the sweep queues it again", name, args)

    transaction.on_commit(send)
