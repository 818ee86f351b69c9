"""`{% pipelines_section session %}` on the session page: the wrappers that fit (a launch form each,
owners and members) and the session's runs (anyone who may read it). A template tag, so the archive
app imports nothing of the pipelines."""

from django import template

from pipelines import queries
from xnatlite import permissions

register = template.Library()


@register.inclusion_tag("pipelines/_session_section.html", takes_context=True)
def pipelines_section(context, session):
    user = context["request"].user
    can_launch = permissions.can(user, "edit", session)
    launchable = []
    if can_launch:
        for wrapper, objects in queries.launchable(session):
            launchable.append(
                {"wrapper": wrapper, "objects": objects, "inputs": wrapper.command.parsed.inputs}
            )
    return {
        "session": session,
        "project": session.project,
        "can_launch": can_launch,
        "launchable": launchable,
        "runs": queries.session_runs(session)[:50],
        "csrf_token": context.get("csrf_token"),
    }
