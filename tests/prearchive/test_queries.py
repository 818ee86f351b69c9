"""Who sees which prearchive rows (xnat-spec.md §2.4): owners and members of the project, site admins
also Unassigned; collaborators and strangers see nothing, exactly as if the rows did not exist."""

import pytest

from prearchive import handoff, operations
from prearchive.models import PrearchiveFile, PrearchiveSession
from prearchive.queries import archived_as, get_prearchive_session, prearchive_listing, scan_summary
from xnatlite.errors import NotFound


def make(project, folder, timestamp="20240102_101500123"):
    return PrearchiveSession.objects.create(
        project=project, timestamp=timestamp, folder_name=folder, label=folder, study_instance_uid="1.2"
    )


@pytest.fixture
def rows(cast, project_a, project_d):
    return {"A": make(project_a, "EA"), "D": make(project_d, "ED"), "Unassigned": make(None, "EU")}


@pytest.mark.parametrize(
    "user, visible",
    [("alice", {"A"}), ("bob", {"A"}), ("carol", set()), ("dave", {"D"}), ("root", {"A", "D", "Unassigned"})],
)
def test_listing_shows_the_rows_the_user_may_use(rows, cast, user, visible):
    listed = {s.project_name for s in prearchive_listing(cast[user])}
    assert listed == visible


def test_listing_filters_by_project_and_unassigned(rows, root):
    assert {s.project_name for s in prearchive_listing(root, ["A", "Unassigned"])} == {"A", "Unassigned"}
    assert {s.project_name for s in prearchive_listing(root, ["D"])} == {"D"}


def test_listing_costs_the_same_queries_for_many_rows(rows, root, project_a, django_assert_max_num_queries):
    for n in range(30):
        make(project_a, f"MANY{n}")
    with django_assert_max_num_queries(2):
        listed = [(s.url, s.project.title if s.project else "") for s in prearchive_listing(root)]
    assert len(listed) == 33


def test_get_session_for_members_and_admins(rows, alice, bob, root):
    session = rows["A"]
    assert get_prearchive_session(alice, "A", session.timestamp, "EA") == session
    assert get_prearchive_session(bob, "A", session.timestamp, "EA") == session
    assert get_prearchive_session(root, "Unassigned", session.timestamp, "EU") == rows["Unassigned"]


@pytest.mark.parametrize("user", ["carol", "dave"])
def test_someone_elses_prearchive_session_is_not_found(rows, cast, user):
    with pytest.raises(NotFound):
        get_prearchive_session(cast[user], "A", rows["A"].timestamp, "EA")


def test_unassigned_is_for_site_admins_only(rows, alice):
    with pytest.raises(NotFound):
        get_prearchive_session(alice, "Unassigned", rows["Unassigned"].timestamp, "EU")
    with pytest.raises(NotFound):
        get_prearchive_session(alice, "A", rows["A"].timestamp, "NOPE")


def test_scan_summary_orders_scans_by_their_number_then_id(rows, django_assert_max_num_queries):
    session = rows["A"]
    for n, scan_id in enumerate(["10", "2", "SR", "1", "1-MR2", "2"]):
        PrearchiveFile.objects.create(
            session=session,
            path=f"prearchive/A/{n}.dcm",
            size=100,
            sop_class_uid="1.2.3",
            sop_instance_uid=f"1.2.3.{n}",
            scan_id=scan_id,
            frames=1,
        )
    with django_assert_max_num_queries(1):
        summary = scan_summary(session)
    assert [(s["scan_id"], s["files"], s["size"]) for s in summary] == [
        ("1", 1, 100),
        ("1-MR2", 1, 100),
        ("2", 2, 200),
        ("10", 1, 100),
        ("SR", 1, 100),
    ]


def test_an_archived_session_is_found_where_its_archive_put_it_even_under_new_labels(ready, project_a, bob):
    session = ready(n_series=1, n_instances=2)
    assert archived_as(session) is None  # still in the prearchive
    archived = handoff.archive_session(session, by=bob, subject="S9", label="E9").session
    assert archived_as(session) == archived and archived.label == "E9"


def test_a_session_deleted_from_the_prearchive_went_nowhere(ready, project_a, bob):
    session = ready(n_series=1, n_instances=1)
    operations.delete_session(session, by=bob)
    assert archived_as(session) is None
