"""What routing reads from the database, and how long a process keeps it (prearchive/rules.py)."""

import random

from django.db import connection
from django.test.utils import CaptureQueriesContext

from prearchive import rules
from prearchive.ingest import IngestContext, route
from prearchive.models import SiteRoutingRules
from tests.dicomgen import make_study
from tests.factories import make_project
from xnatlite import cache
from xnatlite.models import Project
from xnatlite.projects import add_project_alias


def test_a_changed_site_rule_routes_the_next_instance_even_without_a_cache_lifetime(db, alice, settings):
    """Regression (issue 13): the parsed rules were cached under the id() of a dict rebuilt at every
    reload, and a new dict at a freed dict's address was answered the old rules: toggling a site rule
    with no cache lifetime gave stale routes, data going to the wrong project. Each toggle is followed
    by three lookups, as ingest makes one per instance."""
    settings.ROUTING_CACHE_SECONDS = 0
    make_project("RULED", alice)
    [ds] = make_study(1, 1, study_description="names no project", patient_id="P1")
    ds.StudyComments = "RULED"  # a site rule on Study Comments names the project
    row = SiteRoutingRules.objects.create(project_rules=r"(0032,4000):(\w+)", project_rules_enabled=False)
    draw = random.Random(13)
    routed = []
    for _ in range(200):
        row.project_rules_enabled = draw.random() < 0.5
        SiteRoutingRules.objects.filter(pk=row.pk).update(  # no signal: only the cache lifetime tells
            project_rules_enabled=row.project_rules_enabled
        )
        for _ in range(3):
            found = route(ds, IngestContext(source="upload"))
            routed.append((row.project_rules_enabled, found.project_id))
    stale = [(enabled, project) for enabled, project in routed if (project == "RULED") != enabled]
    assert not stale, f"{len(stale)} of {len(routed)} instances routed by rules no longer in force"


def test_a_site_rule_saved_in_this_process_applies_at_once(db, alice):
    make_project("RULED", alice)
    [ds] = make_study(1, 1, study_description="names no project", patient_id="P1")
    ds.StudyComments = "RULED"
    assert route(ds, IngestContext(source="upload")).project_id is None  # cached: no rules
    SiteRoutingRules.objects.create(project_rules=r"(0032,4000):(\w+)")
    assert route(ds, IngestContext(source="upload")).project_id == "RULED"


def test_values_naming_no_project_cost_no_query_each_and_new_projects_are_found(
    db, project_a, alice, monkeypatch
):
    """Most Study Descriptions name no project: routing them reloads the cached project names at most
    once a second instead of querying for each instance; a project created in this process is found at
    once, one created by another process (no signal here) within a second."""
    clock = [1000.0]
    monkeypatch.setattr(cache, "clock", lambda: clock[0])
    cache.forget_all()
    assert rules.find_projects(["A"]) == {"A": "A"}  # loaded
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            assert rules.find_projects(["BRAIN MRI", "ACC123"]) == {}
    assert len(queries) == 0

    add_project_alias(project_a, "BRAIN_A", by=alice)  # this process: found at once
    assert rules.find_projects(["BRAIN_A"]) == {"BRAIN_A": "A"}

    Project.objects.bulk_create([Project(id="ELSEWHERE", name="elsewhere")])  # sends no signal
    assert rules.find_projects(["ELSEWHERE"]) == {}
    clock[0] += 1.1
    with CaptureQueriesContext(connection) as queries:
        assert rules.find_projects(["ELSEWHERE"]) == {"ELSEWHERE": "ELSEWHERE"}
    assert len(queries) == 2  # the project IDs and the aliases, once
    [ds] = make_study(n_instances=1, study_description="ELSEWHERE")
    assert route(ds, IngestContext(source="upload")).project_id == "ELSEWHERE"
