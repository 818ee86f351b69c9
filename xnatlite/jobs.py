"""Work for the Celery workers, queued by task name once the current transaction commits.

A service names the task it queues (`"archive.tasks.make_previews"`) instead of importing the task's
module: tasks are edges that call services, so a service importing them would make a cycle. Without
a broker the task runs in this process at commit (CELERY_TASK_ALWAYS_EAGER), the same code path.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)


def enqueue(name: str, *args: object, best_effort: bool = False) -> None:
    """Queue task `name` with plain `args` (ids, strings, dicts) after the commit of the current
    transaction (at once outside one). An unknown name fails here, before anything commits. With
    `best_effort` a task that cannot be queued is logged and dropped (previews: the sweep makes them)."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()  # every app's tasks module, once per process
    task = current_app.tasks[name]

    def send() -> None:
        try:
            task.delay(*args)
        except Exception:
            if not best_effort:
                raise
            log.exception("task %s%r could not be queued", name, args)

    transaction.on_commit(send)
