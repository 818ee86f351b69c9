"""Sign-in throttling with django-axes: every way of signing in (the login form, HTTP basic auth on the
API, `/data/services/auth`, alias tokens) goes through `authenticate()`, which axes watches. After
`XNATLITE_SIGNIN_FAILURE_LIMIT` failures from one address or for one account, both are refused until
`XNATLITE_SIGNIN_LOCKOUT_MINUTES` pass without another failure, or an admin unlocks them.

This module logs each failure (axes masks names and addresses in its own lines), audits each lockout
once, and audits an unlock: deleting an access attempt (the failures of an address and account) before
its cool-off ends, in Django admin (`unlocking(by=...)` names the admin) or with `manage.py axes_reset*`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from xnatlite import audit, permissions

log = logging.getLogger("xnatlite.signin")

THROTTLE = permissions.SystemActor("system:signin-throttle", frozenset())
_unlocking_by: ContextVar[permissions.User | None] = ContextVar("unlocking_by", default=None)


def client_address(request: HttpRequest) -> str:
    """The address a request came from (AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR, or behind
    `XNATLITE_TRUSTED_PROXIES` proxies the address the outermost one saw. Each proxy appends the address
    it saw to X-Forwarded-For, so what a client wrote there itself stays further left and is ignored."""
    address = str(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXIES
    if proxies:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    return address


@contextmanager
def unlocking(*, by: permissions.User) -> Iterator[None]:
    """Access attempts deleted inside the block are unlocks by this admin (Django admin)."""
    previous = _unlocking_by.set(by)
    try:
        yield
    finally:
        _unlocking_by.reset(previous)


def _name(value: Any) -> str:
    return str(value or "")[:150]


@receiver(user_login_failed)
def log_failure(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    where = client_address(request) if request is not None else "an unknown address"
    path = request.path if request is not None else ""
    log.warning("sign-in failed for %r from %s (%s)", _name(credentials.get("username"))[:64], where, path)


@receiver(user_locked_out)
def record_lockout(sender: Any, request: HttpRequest, username: Any, ip_address: str, **kwargs: Any) -> None:
    """Audit a lockout when it starts, not again for each attempt refused while it lasts."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.AXES_FAILURE_LIMIT:
        return
    log.warning("sign-in locked for %r and %s after %d failures", _name(username)[:64], ip_address, failures)
    audit.record(THROTTLE, "auth.signin.locked", _name(username), ip_address=ip_address, failures=failures)


@receiver(post_delete, sender=AccessAttempt)
def record_unlock(sender: Any, instance: AccessAttempt, **kwargs: Any) -> None:
    """Deleting failures before their cool-off ended (an admin unlocking, or forgiving them) is audited;
    axes deleting those whose cool-off is over is not."""
    cool_off = settings.AXES_COOLOFF_TIME
    if cool_off is not None and instance.attempt_time <= timezone.now() - cool_off:
        return
    by = _unlocking_by.get() or permissions.command_actor("axes_reset")
    audit.record(
        by,
        "auth.signin.unlocked",
        _name(instance.username),
        ip_address=instance.ip_address,
        failures=instance.failures_since_start,
    )
