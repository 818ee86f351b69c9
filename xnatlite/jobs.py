"""Work for the Celery workers, queued by task name once the current transaction commits.

A service names the task it queues (`"archive.tasks.make_previews"`) instead of importing the task's
module: tasks are edges that call services, so a service importing them would make a cycle. Without
a broker the task runs in this process at commit (CELERY_TASK_ALWAYS_EAGER), the same code path.

Every task queued here leaves its work findable in the database (a session QUEUED_ARCHIVING, an
archived session without previews), and the periodic sweep queues the task again when it was lost: a
broker restarted without its queue, or one that could not be reached at commit. So a broker that
cannot be reached never fails what already committed: it is logged, and the sweep finishes the work.

A `background` task (a pipeline run: minutes or hours) never runs inside the request that queued it:
without a broker it runs in a thread of this process once the transaction commits, and the request
answers at once.
"""

from __future__ import annotations

import logging
import threading

from celery import current_app
from django.db import connection, transaction

log = logging.getLogger(__name__)


def enqueue(name: str, *args: object, best_effort: bool = False, background: bool = False) -> None:
    """Queue task `name` with plain `args` (ids, strings, dicts) after the commit of the current
        transaction (at once outside one). An unknown name fails here, before anything commits; a broker
        that cannot be reached is logged (the sweep queues the task again). Without a broker the task runs
        here and its errors are raised, unless `best_effort` (previews: they never fail an archive); a
    `background` task runs then in a thread of its own (see above), its errors logged."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()  # every app's tasks module, once per process
    task = current_app.tasks[name]

    def run_in_thread() -> None:
        try:
            task.apply(args=args, throw=True)
        except Exception:
            log.exception("background task %s%r failed", name, args)
        finally:
            connection.close()  # this thread's own connection

    def send() -> None:
        if background and current_app.conf.task_always_eager:
            threading.Thread(target=run_in_thread, name=f"task {name}", daemon=True).start()
            return
        try:
            task.delay(*args)
        except Exception:
            if current_app.conf.task_always_eager and not best_effort:
                raise  # no broker: the task itself failed, in this process
            log.exception("task %s%r failed or could not be queued; the sweep queues it again", name, args)

    transaction.on_commit(send)
