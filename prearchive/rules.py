"""What routing reads from the database: the site routing rules and every project ID and alias
(xnat-spec.md §5.4, §5.5). Ingest asks for them once per instance, so each process keeps them
(xnatlite/cache.py): the site rules for `ROUTING_CACHE_SECONDS` (XNAT caches them for about as
long), project names for a few seconds. A save in this process is seen at once (the caches are
emptied on every save or delete); other processes see it within those seconds.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import signals

from prearchive import routing
from prearchive.models import SiteRoutingRules
from xnatlite.cache import TimedCache
from xnatlite.models import Project, ProjectAlias

PROJECT_NAMES_CACHE_SECONDS = 5.0
PROJECT_NAMES_MISS_SECONDS = 1.0  # a value no cached name matches reloads them, at most this often
KINDS = ("project", "subject", "session", "aa")


def _load_site_rules(_key: None) -> routing.SiteRules:
    row = SiteRoutingRules.load()
    return routing.SiteRules(
        **{
            kind: routing.parse_rules(getattr(row, f"{kind}_rules"))
            if getattr(row, f"{kind}_rules_enabled")
            else []
            for kind in KINDS
        }
    )


def _load_project_names(_key: None) -> dict[str, str]:
    names = dict(Project.objects.values_list("pk", "pk"))
    for alias, project_id in ProjectAlias.objects.values_list("alias", "project_id"):
        names.setdefault(alias, project_id)
    return names


_site_rules = TimedCache(_load_site_rules, seconds=lambda: settings.ROUTING_CACHE_SECONDS, max_entries=1)
_project_names = TimedCache(_load_project_names, seconds=PROJECT_NAMES_CACHE_SECONDS, max_entries=1)


def site_rules() -> routing.SiteRules:
    """The site's enabled routing rules, parsed."""
    return _site_rules.get(None)


def rule_set(receiver: routing.ReceiverRules | None) -> routing.RuleSet:
    """The receiver's expressions (None: the instance did not come over DICOM) and the site's rules."""
    return routing.RuleSet(receiver=receiver or routing.ReceiverRules(), site=site_rules())


def find_projects(values: list[str]) -> dict[str, str]:
    """Map each value that names a project ID or alias to the project's ID.

    A value naming none of them (most Study Descriptions do not) reloads them, at most once a second:
    a project created in another process is found within a second, and instances routed to Unassigned
    cost no query each (two queries per instance were a tenth of the receiver's time).
    """
    names = _project_names.get(None)
    if not any(value in names for value in values):
        names = _project_names.get(None, max_age=PROJECT_NAMES_MISS_SECONDS)
    return {value: names[value] for value in values if value in names}


for _model, _cache in (
    (Project, _project_names),
    (ProjectAlias, _project_names),
    (SiteRoutingRules, _site_rules),
):
    for _signal in (signals.post_save, signals.post_delete):
        _signal.connect(_cache.forget, sender=_model, dispatch_uid=f"routing-{_model.__name__}")
