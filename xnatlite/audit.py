"""The audit trail: every data-changing service records who did what to which object.

`record(actor, "archive.session.archived", session, subject="S1")`. Details hold ids, labels and
counts, never DICOM header values (those may be a patient's name).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from xnatlite.models import AuditEvent

log = logging.getLogger("xnatlite.audit")


def _describe(obj: Any) -> tuple[str, str, str, str]:
    """(object type, object id, label shown to people, project id) for any audited object."""
    if obj is None:
        return "", "", "", ""
    if isinstance(obj, str):
        return "", obj, obj, ""
    object_type = getattr(obj, "audit_type", None) or obj.__class__.__name__.lower()
    object_id = str(getattr(obj, "accession_id", "") or obj.pk)
    project_id = ""
    if object_type == "project":
        project_id = str(obj.pk)
    elif object_type == "resource":  # its own project_id is set only on project resources
        project_id = _describe(obj.owner)[3]
    elif hasattr(obj, "project_id"):
        project_id = obj.project_id or ""
    elif hasattr(obj, "session"):
        project_id = obj.session.project_id
    return object_type, object_id, str(obj), project_id


def _plain(value: Any) -> Any:
    """Details must be JSON: model instances become their primary key."""
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str):
        return str(value)  # choices enums become their plain value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def record(
    actor: User | AnonymousUser | str | None, action: str, obj: Any = None, **details: Any
) -> AuditEvent:
    """Store one audit event; `actor` is a user, or a string naming a system actor ("receiver:XNATLITE")."""
    object_type, object_id, label, project_id = _describe(obj)
    if isinstance(actor, str) or actor is None:
        user, actor_name = None, actor or "system"
    elif not actor.is_authenticated:
        user, actor_name = None, "anonymous"
    else:
        user, actor_name = actor, actor.get_username()
    event = AuditEvent.objects.create(
        actor=user,
        actor_name=actor_name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_label=label[:512],
        project_id=str(details.pop("project_id", project_id) or ""),
        details=_plain(details),
    )
    shown = repr(event.details) if event.details else ""
    log.info("%s %s %s %s", actor_name, action, label, shown if len(shown) <= 300 else shown[:300] + "...")
    return event
