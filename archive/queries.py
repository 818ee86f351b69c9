"""Reads shared by the pages and the API; each returns what its callers show in a fixed number of queries."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from archive import permissions
from archive.models import ImageSession, Project, Role, Subject


def _count(model, **outer) -> Coalesce:
    """A correlated COUNT subquery: cheaper than joining two big tables and counting distinct rows."""
    rows = model.objects.filter(**outer).order_by().values(*outer).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def project_listing(user) -> QuerySet[Project]:
    """Projects the user may see, with subject and session counts and the last archiving time."""
    last = ImageSession.objects.filter(project=OuterRef("pk")).order_by().values("project")
    return (
        permissions.projects_for(user, "see")
        .annotate(
            subject_count=_count(Subject, project=OuterRef("pk")),
            session_count=_count(ImageSession, project=OuterRef("pk")),
            last_activity=Subquery(last.annotate(m=Max("created_at")).values("m")),
        )
        .order_by("id")
    )


def project_users(project: Project) -> list[tuple[object, Role]]:
    """(user, role) for everyone with a role in the project, owners first."""
    order = {Role.OWNER: 0, Role.MEMBER: 1, Role.COLLABORATOR: 2}
    names = {permissions.role_group_name(project.id, role): Role(role) for role in Role.values}
    users = (
        get_user_model()
        .objects.filter(groups__name__in=names)
        .annotate(group_name=Max("groups__name"))
        .order_by("username")
    )
    # A user is in one role group per project (services keep it so), so the annotated name is theirs.
    rows = [(user, names[user.group_name]) for user in users]
    return sorted(rows, key=lambda row: (order[row[1]], row[0].get_username()))
