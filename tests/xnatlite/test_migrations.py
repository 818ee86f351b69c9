"""The move of projects and the audit trail into the kernel app changes no data: a site migrated from
before the move keeps its projects, their roles and its audit trail (xnatlite/migrations/0001)."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import TESTS, UserFactory
from xnatlite import audit, permissions, projects
from xnatlite.models import AuditEvent, Project

BEFORE_THE_MOVE = [
    ("xnatlite", None),
    ("archive", "0001_initial"),
    ("prearchive", "0001_initial"),
    ("anonymize", "0001_initial"),
]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_roles_and_audit_survive_the_move_of_projects_into_the_kernel():
    owner, member = UserFactory(username="owner"), UserFactory(username="member")
    project = projects.create_project("MOVED", by=TESTS, owner=owner)
    projects.set_project_role(project, member, "member", by=owner)
    events = AuditEvent.objects.filter(project_id="MOVED").count()

    _migrate(BEFORE_THE_MOVE)
    old = ContentType.objects.get(app_label="archive", model="project")  # as a site before the move has it
    assert not ContentType.objects.filter(app_label="xnatlite", model="project").exists()

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()
    moved = ContentType.objects.get(app_label="xnatlite", model="project")
    assert moved.pk == old.pk  # the same row: every object permission still points at it
    project = Project.objects.get(pk="MOVED")
    member.refresh_from_db()
    permissions.forget_cached_permissions(member)
    assert permissions.can(member, "edit", project)
    assert not permissions.can(member, "manage", project)
    assert permissions.projects_for(member, "read").filter(pk="MOVED").exists()
    assert AuditEvent.objects.filter(project_id="MOVED").count() == events
    audit.record(owner, "archive.project.updated", project)
    assert AuditEvent.objects.filter(project_id="MOVED").count() == events + 1
