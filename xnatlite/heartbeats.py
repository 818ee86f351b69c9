"""Signs of life of the processes that make up a site (issue 16): each receiver, spool worker and run
of the sweep records when it was last seen. `/health` and the admin status page show them; a receiver
runs the sweep itself when nobody has for too long (the scheduler, Celery beat, is down), claiming the
run with a conditional UPDATE so that one process runs it.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from xnatlite.models import Heartbeat

SWEEP = "sweep"
RUN_CLAIM = "sweep-claim"  # the row a process updates to claim an overdue sweep
FORGET_AFTER = timedelta(days=1)  # rows of processes silent this long are removed


def me() -> str:
    """This process: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(role: str, name: str | None = None, **info: object) -> None:
    """Record that this process (or `name`) of `role` is alive now."""
    name = name or me()
    now = timezone.now()
    if Heartbeat.objects.filter(role=role, name=name).update(seen_at=now, info=info):
        return
    try:
        with transaction.atomic():
            Heartbeat.objects.create(role=role, name=name, seen_at=now, info=info)
    except IntegrityError:  # another thread of this process made it first
        Heartbeat.objects.filter(role=role, name=name).update(seen_at=now, info=info)


def last_seen(role: str) -> datetime | None:
    row = Heartbeat.objects.filter(role=role).order_by("-seen_at").first()
    return row.seen_at if row else None


def claim_overdue(role: str, seconds: float, now: datetime | None = None) -> bool:
    """Whether this process should do the work of `role` because nobody has for `seconds`; at most one
    process gets True per period (a conditional UPDATE of one claim row)."""
    now = now or timezone.now()
    latest = last_seen(role)
    if latest is not None and now - latest < timedelta(seconds=seconds):
        return False
    cutoff = now - timedelta(seconds=seconds)
    claim_name = f"{role}-claim"
    if Heartbeat.objects.filter(role=RUN_CLAIM, name=claim_name, seen_at__lt=cutoff).update(
        seen_at=now, info={"by": me()}
    ):
        return True
    try:
        with transaction.atomic():
            Heartbeat.objects.create(role=RUN_CLAIM, name=claim_name, seen_at=now, info={"by": me()})
        return True
    except IntegrityError:  # the row exists and another process claimed this period
        return False


def roles(now: datetime | None = None) -> dict[str, list[dict]]:
    """Every role's processes with when they were last seen, newest first (old rows are forgotten)."""
    now = now or timezone.now()
    Heartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
    found: dict[str, list[dict]] = {}
    for row in Heartbeat.objects.exclude(role=RUN_CLAIM).order_by("role", "-seen_at"):
        found.setdefault(row.role, []).append(
            {
                "name": row.name,
                "seen_at": row.seen_at,
                "seconds_ago": (now - row.seen_at).total_seconds(),
                **row.info,
            }
        )
    return found


# What counts as alive: a receiver reloads every few seconds, a spool worker looks for dead ones every
# few seconds, the sweep runs every XNATLITE_SESSION_CHECK_SECONDS.
FRESH_SECONDS = {"receiver": 30.0, "spool-worker": 30.0}


def site_health(now: datetime | None = None) -> dict:
    """Which parts of the site answered, and when: the database, the broker and the Celery workers
    (asked now), the receivers, spool workers and sweep (their last heartbeat). `ok` is whether this
    web process can serve: its database, and its broker when one is configured."""
    from celery import current_app
    from django.conf import settings
    from django.db import connection

    now = now or timezone.now()
    health: dict = {"checked_at": now.isoformat()}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        health["database"] = {"ok": True}
    except Exception as exc:
        return {**health, "ok": False, "database": {"ok": False, "error": type(exc).__name__}}
    broker_ok = True
    if settings.CELERY_BROKER_URL:
        try:
            with current_app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            replies = current_app.control.ping(timeout=1.0) or []
            health["broker"] = {"ok": True}
            health["celery_workers"] = sorted(name for reply in replies for name in reply)
        except Exception as exc:
            broker_ok = False
            health["broker"] = {"ok": False, "error": type(exc).__name__}
    else:
        health["broker"] = {"ok": True, "none": "tasks run in the process that queues them"}
    fresh = dict(FRESH_SECONDS, sweep=3.0 * settings.SESSION_CHECK_SECONDS)
    health["roles"] = {
        role: {
            "processes": [
                {
                    "name": p["name"],
                    "seen_at": p["seen_at"].isoformat(),
                    "seconds_ago": round(p["seconds_ago"], 1),
                }
                for p in processes
            ],
            "alive": sum(p["seconds_ago"] <= fresh.get(role, 60.0) for p in processes),
        }
        for role, processes in roles(now).items()
    }
    health["ok"] = broker_ok
    return health
