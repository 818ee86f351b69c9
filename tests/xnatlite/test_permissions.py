"""The whole role × accessibility × action matrix, with real rows, plus anonymous users and strangers."""

import pytest
from django.contrib.auth.models import AnonymousUser

from prearchive.models import PrearchiveSession
from tests.factories import ImageSessionFactory, UserFactory, make_project
from xnatlite import permissions, projects
from xnatlite.errors import Forbidden, NotFound
from xnatlite.models import Accessibility

ROLE_ACTIONS = {
    "owner": {"see", "read", "download", "create", "edit", "prearchive", "delete", "manage"},
    "member": {"see", "read", "download", "create", "edit", "prearchive"},
    "collaborator": {"see", "read", "download"},
    "stranger": set(),
    "anonymous": set(),
    "admin": set(permissions.ACTIONS),
}
OPEN_ACTIONS = {  # what a signed-in stranger may do, by accessibility (xnat-spec.md §2.3)
    "private": set(),
    "protected": {"see"},
    "public": {"see", "read", "download"},
}


def expected(who: str, accessibility: str, action: str) -> bool:
    if who == "anonymous":
        return False
    if who == "admin":
        return True
    return action in ROLE_ACTIONS[who] or action in OPEN_ACTIONS[accessibility]


@pytest.fixture
def world(db):
    owner, member, collaborator, stranger, admin = (
        UserFactory(username=n) for n in ("owner", "member", "collab", "stranger", "admin")
    )
    admin.is_superuser = True
    admin.save()
    by_level = {}
    for level in Accessibility.values:
        project = make_project(f"P_{level}", owner, accessibility=level)
        projects.set_project_role(project, member, "member", by=owner)
        projects.set_project_role(project, collaborator, "collaborator", by=owner)
        by_level[level] = project
    users = {
        "owner": owner,
        "member": member,
        "collaborator": collaborator,
        "stranger": stranger,
        "anonymous": AnonymousUser(),
        "admin": admin,
    }
    return users, by_level


@pytest.mark.parametrize("accessibility", Accessibility.values)
@pytest.mark.parametrize("who", list(ROLE_ACTIONS))
def test_permission_matrix(world, who, accessibility):
    users, by_level = world
    project = by_level[accessibility]
    session = ImageSessionFactory(project=project)
    user = users[who]
    for action in permissions.ACTIONS:
        want = expected(who, accessibility, action)
        for obj in (project, session.subject, session):
            assert permissions.can(user, action, obj) is want, (
                who,
                accessibility,
                action,
                type(obj).__name__,
            )
        listed = project in permissions.projects_for(user, action)
        assert listed is want, (who, accessibility, action, "projects_for")


def test_private_project_is_not_found_for_stranger_not_forbidden(project_a, dave):
    with pytest.raises(NotFound):
        permissions.require(dave, "read", project_a)
    with pytest.raises(NotFound):
        permissions.get_project(dave, "A")


def test_member_gets_forbidden_for_settings(project_a, bob):
    with pytest.raises(Forbidden):
        permissions.require(bob, "manage", project_a)


def test_protected_project_hides_its_data_as_not_found(alice, dave):
    project = make_project("PROT", alice, accessibility="protected")
    session = ImageSessionFactory(project=project)
    permissions.require(dave, "see", project)
    with pytest.raises(NotFound):
        permissions.require(dave, "read", session)
    with pytest.raises(Forbidden):
        permissions.require(dave, "edit", project)


def test_unassigned_prearchive_data_is_for_site_admins_only(root, alice):
    unassigned = PrearchiveSession(project=None, timestamp="20240102_101500123", folder_name="E1", label="E1")

    assert permissions.can(root, "prearchive", unassigned)
    assert not permissions.can(alice, "prearchive", unassigned)
    with pytest.raises(NotFound):
        permissions.require(alice, "prearchive", unassigned)
    assert permissions.unassigned_scope(root) == "all"
    assert permissions.unassigned_scope(alice) == "own"  # only what she uploaded: none here
    permissions.require_unassigned(root)
    with pytest.raises(NotFound):
        permissions.require_unassigned(AnonymousUser())


def test_unassigned_data_an_account_uploaded_is_theirs(root, alice, dave):
    """Issue 14: an upload routed to a project its uploader may not use lands in their own Unassigned."""
    theirs = PrearchiveSession(
        project=None, timestamp="20240102_101500123", folder_name="E1", label="E1", uploaded_by=alice
    )
    for action in ("see", "read", "download", "prearchive"):
        assert permissions.can(alice, action, theirs)
        assert permissions.can(root, action, theirs)
        assert not permissions.can(dave, action, theirs)
    assert not permissions.can(alice, "delete", theirs) and not permissions.can(alice, "manage", theirs)
    with pytest.raises(NotFound):
        permissions.require(dave, "prearchive", theirs)


def test_inactive_user_may_do_nothing(project_a, alice):
    alice.is_active = False
    alice.save()
    assert not permissions.can(alice, "see", project_a)
    assert not permissions.projects_for(alice, "see").exists()


def test_project_found_by_alias(alice, project_a):
    projects.add_project_alias(project_a, "ALIAS_A", by=alice)
    assert permissions.get_project(alice, "ALIAS_A") == project_a


def test_role_change_takes_effect_for_the_same_user_object(project_a, alice, carol):
    assert not permissions.can(carol, "edit", project_a)
    projects.set_project_role(project_a, carol, "member", by=alice)
    assert permissions.can(carol, "edit", project_a)
    assert permissions.role_of(carol, project_a) == "member"


def test_project_roles_name_each_role_by_project(cast, project_a, alice, carol, dave, root):
    make_project("A_B", alice)  # an underscore in a project ID
    projects.set_project_role(project_a, dave, "collaborator", by=alice)
    assert permissions.project_roles(alice) == {"A": "owner", "A_B": "owner"}
    assert permissions.project_roles(carol) == {"A": "collaborator"}
    assert permissions.project_roles(dave) == {"A": "collaborator", "D": "owner"}
    assert permissions.project_roles(root) == {}
    assert permissions.project_roles(AnonymousUser()) == {}
