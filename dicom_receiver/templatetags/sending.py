"""`{% how_to_send project_id %}`: the box that tells people how data reaches a project, shown on the
project page, its prearchive and the upload page: the enabled receivers (AE title, host, port), the
routing rule a scanner operator can use (`Project: ID`, README "Routing"), the upload tool's command line.
"""

from __future__ import annotations

from django import template
from django.http.request import split_domain_port

from dicom_receiver.models import Receiver
from prearchive.queries import UNASSIGNED

register = template.Library()

PLACEHOLDER = "PROJECT"


@register.inclusion_tag("dicom_receiver/_how_to_send.html", takes_context=True)
def how_to_send(context: template.Context, project_id: str = "") -> dict:
    """The receivers and commands for `project_id` (a placeholder when no project is chosen yet)."""
    request = context["request"]
    if project_id == UNASSIGNED:  # not a project anyone sends to
        project_id = ""
    host = split_domain_port(request.get_host())[0] or request.get_host()  # the name people reach us by
    receivers = list(
        Receiver.objects.filter(enabled=True).order_by("port").values("ae_title", "port", "description")
    )
    return {
        "project_id": project_id or PLACEHOLDER,
        "chosen": bool(project_id),
        "host": host,
        "receivers": receivers,
        "server": request.build_absolute_uri("/"),
        "username": request.user.get_username(),
    }
