"""Prearchive actions from the pages: archive, Review and Archive (relabel, validation, overwrite),
delete, move, rebuild, reset, bulk actions, and the upload's commit. Real files, real archive service."""

import pydicom
import pytest
from django.urls import reverse

from archive.models import File, ImageSession, Subject
from prearchive import handoff, operations
from prearchive.ingest import IngestContext, ingest_file
from prearchive.models import PrearchiveFile, PrearchiveSession, Status
from tests.dicomgen import pydicom_test_file
from tests.factories import make_project
from xnatlite import layout
from xnatlite.models import AuditEvent


def ready(name: str = "MR_small.dcm", *, project: str = "A", by=None, **labels) -> PrearchiveSession:
    """A session received through ingest and committed (READY), as after an upload."""
    session = ingest_file(
        pydicom_test_file(name), IngestContext(source="test", project=project, **labels)
    ).session
    return operations.rebuild_session(session, by=by or session.project.created_by)


def args(session):
    return [session.project_name, session.timestamp, session.folder_name]


def archived_names(session: ImageSession) -> list[str]:
    return sorted(File.objects.filter(resource__scan__session=session).values_list("name", flat=True))


# --- archive as it is ---------------------------------------------------------------------------------
def test_member_archives_a_session_as_it_is(transactional_db, as_user, project_a, bob):
    session = ready(subject="SUBJ1", session="VISIT1")
    assert session.status == Status.READY
    client = as_user(bob)
    response = client.post(reverse("prearchive-action", args=args(session)), {"action": "archive"})
    assert response.status_code == 302
    assert response["Location"] == reverse("session-detail", args=["A", "VISIT1"])
    archived = ImageSession.objects.get(project=project_a, label="VISIT1")
    assert archived.subject.label == "SUBJ1"
    assert not PrearchiveSession.objects.filter(pk=session.pk).exists()
    (file,) = File.objects.filter(resource__scan__session=archived, resource__label="DICOM")
    assert file.absolute_path.is_file()
    assert file.absolute_path.is_relative_to(layout.archive_session_dir("A", "VISIT1"))
    assert AuditEvent.objects.filter(action="prearchive.session.archive_requested", actor=bob).exists()
    page = client.get(response["Location"])
    assert "VISIT1 is archived in project A" in page.content.decode()


def test_collaborator_and_stranger_cannot_act(as_user, project_a, carol, dave):
    session = ready()
    for user in (carol, dave):
        for action in ("archive", "delete", "rebuild"):
            response = as_user(user).post(
                reverse("prearchive-action", args=args(session)), {"action": action}
            )
            assert response.status_code == 404, (user, action)
        assert as_user(user).get(reverse("prearchive-review", args=args(session))).status_code == 404
    session.refresh_from_db()
    assert session.status == Status.READY and session.folder.is_dir()
    assert not ImageSession.objects.exists()


def test_a_busy_session_is_not_archived_twice(as_user, project_a, bob):
    session = ingest_file(
        pydicom_test_file("MR_small.dcm"), IngestContext(source="test", project="A")
    ).session
    response = as_user(bob).post(
        reverse("prearchive-action", args=args(session)), {"action": "archive"}, follow=True
    )
    assert "only READY, CONFLICT or ERROR" in response.content.decode()
    session.refresh_from_db()
    assert session.status == Status.RECEIVING and not ImageSession.objects.exists()


# --- Review and Archive -------------------------------------------------------------------------------
def identified_instance(tmp_path):
    """MR_small with a patient's name and a record number in it."""
    ds = pydicom.dcmread(pydicom_test_file("MR_small.dcm"))
    ds.PatientName, ds.PatientID, ds.AccessionNumber = "DOE^JANE", "00123456", "ACC99887766"
    path = tmp_path / "identified.dcm"
    ds.save_as(path)
    return path


def test_review_shows_the_kept_fields_with_warnings_and_validation(as_user, project_a, bob, tmp_path):
    session = ingest_file(identified_instance(tmp_path), IngestContext(source="test", project="A")).session
    session = operations.rebuild_session(session, by=bob)
    response = as_user(bob).get(reverse("prearchive-review", args=args(session)))
    assert response.status_code == 200
    kept = {keyword: value for _, keyword, value in response.context["kept"]}
    assert kept["PatientName"] == "DOE^JANE" and kept["PatientID"] == "00123456"
    warnings = response.context["warnings"]
    assert {"PatientName", "PatientID", "AccessionNumber"} <= set(warnings)
    # Routing made the labels from the name and the ID (xnat-spec.md §5.4): they are flagged too.
    assert session.subject_label == "DOE_JANE" and "subject" in warnings and "session" in warnings
    html = response.content.decode()
    assert "looks like a person&#x27;s name" in html and "medical record number" in html
    codes = {r.code for r in response.context["results"]}
    assert 12 in codes  # a new subject will be created
    # The identity policy stops these labels until they are changed or confirmed (the box, code 30).
    assert [r.code for r in response.context["stopping"]] == [30] and response.context["blocking"] == []
    assert 'name="confirm_identifiers"' in html
    assert not ImageSession.objects.exists()  # looking changes nothing


def test_review_relabels_and_archives_and_the_headers_carry_the_new_labels(
    transactional_db, as_user, project_a, bob, tmp_path
):
    session = operations.rebuild_session(
        ingest_file(identified_instance(tmp_path), IngestContext(source="test", project="A")).session, by=bob
    )
    Subject.objects.create(project=project_a, label="P001", accession_id="X_S1")
    client = as_user(bob)
    url = reverse("prearchive-review", args=args(session))
    page = client.get(url)
    assert "P001" in page.context["subject_labels"] and '<option value="P001">' in page.content.decode()
    data = {"project": "A", "subject": "P001", "label": "P001_MR1", "overwrite": "none", "archive": "1"}
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    archived = ImageSession.objects.get(project=project_a, label="P001_MR1")
    assert archived.subject.label == "P001" and Subject.objects.filter(project=project_a).count() == 1
    (file,) = File.objects.filter(resource__scan__session=archived, resource__label="DICOM")
    ds = pydicom.dcmread(file.absolute_path, stop_before_pixels=True)
    assert (str(ds.PatientName), ds.PatientID) == ("P001", "P001_MR1")
    assert ds.get("AccessionNumber", "") == ""  # blanked by the default project script
    event = AuditEvent.objects.get(action="prearchive.session.archive_requested")
    assert event.details["subject"] == "P001" and event.details["label"] == "P001_MR1"


def test_review_refuses_bad_labels_without_archiving(as_user, project_a, bob):
    session = ready()
    data = {"project": "A", "subject": "../etc", "label": "a b", "overwrite": "none", "archive": "1"}
    response = as_user(bob).post(reverse("prearchive-review", args=args(session)), data)
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"subject", "label"}
    assert 'name="archive" value="1" disabled' in response.content.decode()
    session.refresh_from_db()
    assert session.status == Status.READY and not ImageSession.objects.exists()


def test_review_offers_the_overwrite_choice_when_the_session_exists(
    transactional_db, as_user, project_a, bob
):
    first = ready(subject="S1", session="E1")
    handoff.queue_archive(first, by=bob)
    archived = ImageSession.objects.get(label="E1")
    before = archived_names(archived)
    again = ready(subject="S1", session="E1")  # the same instance once more
    client = as_user(bob)
    url = reverse("prearchive-review", args=args(again))
    page = client.get(url)
    assert page.context["exists"] is True
    assert "already exists in A" in page.content.decode()
    assert {r.code for r in page.context["stopping"]} >= {1}

    base = {"project": "A", "subject": "S1", "label": "E1", "archive": "1"}
    refused = client.post(url, {**base, "overwrite": "append"})  # the same SOP instance: code 15 stops it
    assert refused.status_code == 200 and {r.code for r in refused.context["stopping"]} == {15}
    assert PrearchiveSession.objects.filter(pk=again.pk, status=Status.READY).exists()

    replaced = client.post(url, {**base, "overwrite": "delete"})
    assert replaced.status_code == 302
    assert not PrearchiveSession.objects.filter(pk=again.pk).exists()
    assert archived_names(ImageSession.objects.get(label="E1")) == before


def test_review_of_an_unassigned_session_says_move_it_first(as_user, root, cast):
    session = ingest_file(pydicom_test_file("rtplan.dcm"), IngestContext(source="test", project=None)).session
    session = operations.rebuild_session(session, by=root)
    page = as_user(root).get(reverse("prearchive-session", args=args(session)))
    assert "move this one to a project first" in page.content.decode()
    assert "Review and Archive" not in page.content.decode()


# --- delete, move, rebuild, reset ---------------------------------------------------------------------
def test_member_deletes_a_session_and_its_files(as_user, project_a, bob):
    session = ready()
    folder = session.folder
    response = as_user(bob).post(reverse("prearchive-action", args=args(session)), {"action": "delete"})
    assert response["Location"] == reverse("prearchive-project", args=["A"])
    assert not PrearchiveSession.objects.filter(pk=session.pk).exists()
    assert not folder.exists() and not PrearchiveFile.objects.exists()
    assert AuditEvent.objects.filter(action="prearchive.session.deleted", actor=bob).exists()


def test_move_to_another_project_where_the_user_may_edit(as_user, project_a, alice, bob):
    make_project("B2", alice)
    session = ready()
    old_folder = session.folder
    response = as_user(alice).post(
        reverse("prearchive-action", args=args(session)), {"action": "move", "project": "B2"}
    )
    session.refresh_from_db()
    assert session.project_id == "B2" and session.status == Status.READY
    assert response["Location"] == reverse("prearchive-session", args=args(session))
    assert not old_folder.exists() and session.folder.is_dir()
    assert all(layout.absolute_path(f.path).is_file() for f in PrearchiveFile.objects.filter(session=session))
    # bob may not edit B2: the move is refused and nothing changes
    other = ready("CT_small.dcm")
    refused = as_user(bob).post(
        reverse("prearchive-action", args=args(other)), {"action": "move", "project": "B2"}, follow=True
    )
    assert "Unable to modify session data for destination project" in refused.content.decode()
    other.refresh_from_db()
    assert other.project_id == "A"


def test_rebuild_and_reset(as_user, project_a, bob):
    session = ready()
    client = as_user(bob)
    client.post(reverse("prearchive-action", args=args(session)), {"action": "rebuild"})
    session.refresh_from_db()
    assert session.status == Status.READY
    PrearchiveSession.objects.filter(pk=session.pk).update(status=Status.MOVING)  # as a dead process left it
    page = client.get(reverse("prearchive-session", args=args(session)))
    assert "Reset status" in page.content.decode()
    client.post(reverse("prearchive-action", args=args(session)), {"action": "reset"})
    session.refresh_from_db()
    assert session.status == Status.READY
    assert AuditEvent.objects.filter(action="prearchive.session.status_reset").exists()


def test_unknown_action_is_an_error_message(as_user, project_a, bob):
    session = ready()
    response = as_user(bob).post(
        reverse("prearchive-action", args=args(session)), {"action": "explode"}, follow=True
    )
    assert "Unknown action" in response.content.decode()


# --- bulk ---------------------------------------------------------------------------------------------
def test_bulk_archive_of_chosen_rows_only(transactional_db, as_user, project_a, project_d, bob, dave):
    one, two = ready(subject="S1", session="E1"), ready("CT_small.dcm", subject="S2", session="E2")
    theirs = ready("rtplan.dcm", project="D", by=dave, subject="S3", session="E3")
    client = as_user(bob)
    data = {
        "action": "archive",
        "session": [one.pk, two.pk, theirs.pk],
        "next": reverse("prearchive-project", args=["A"]),
    }
    response = client.post(reverse("prearchive-bulk"), data)
    assert response["Location"] == reverse("prearchive-project", args=["A"])
    assert set(ImageSession.objects.values_list("label", flat=True)) == {"E1", "E2"}
    assert PrearchiveSession.objects.get(pk=theirs.pk).status == Status.READY  # not bob's to touch


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_bulk_refuses_an_outside_next_url(as_user, project_a, bob, next_url):
    session = ready()
    response = as_user(bob).post(
        reverse("prearchive-bulk"),
        {"action": "rebuild", "session": [session.pk], "next": next_url},
    )
    assert response["Location"] == reverse("prearchive")


# --- upload commits -----------------------------------------------------------------------------------
def test_an_upload_is_committed_ready_and_auto_archived_when_the_project_says_so(
    transactional_db, as_user, alice, bob, project_a
):
    from tests.prearchive.views.test_pages import dicom_zip

    client = as_user(alice)
    upload = dicom_zip(("a.dcm", pydicom_test_file("MR_small.dcm").read_bytes()))
    body = client.post(
        reverse("upload"), {"project": "A", "files": [upload]}, HTTP_ACCEPT="application/json"
    ).json()
    assert [s["status"] for s in body["sessions"]] == ["READY"]

    make_project("AUTO", alice, prearchive_code=4)
    upload = dicom_zip(("b.dcm", pydicom_test_file("CT_small.dcm").read_bytes()))
    body = client.post(
        reverse("upload"),
        {"project": "AUTO", "subject": "S9", "session": "E9", "files": [upload]},
        HTTP_ACCEPT="application/json",
    ).json()
    assert [s["status"] for s in body["sessions"]] == ["ARCHIVED"]
    assert body["sessions"][0]["url"] == reverse("session-detail", args=["AUTO", "E9"])
    assert ImageSession.objects.filter(project_id="AUTO", label="E9").exists()


def test_batches_before_the_last_are_not_committed(as_user, project_a, bob):
    from tests.prearchive.views.test_pages import dicom_zip

    client = as_user(bob)
    first = client.post(
        reverse("upload"),
        {
            "project": "A",
            "commit": "0",
            "files": [dicom_zip(("a.dcm", pydicom_test_file("MR_small.dcm").read_bytes()))],
        },
        HTTP_ACCEPT="application/json",
    ).json()
    assert [s["status"] for s in first["sessions"]] == ["RECEIVING"]
    last = client.post(
        reverse("upload"),
        {
            "project": "A",
            "commit": "1",
            "also": [first["sessions"][0]["id"]],
            "files": [dicom_zip(("b.dcm", pydicom_test_file("CT_small.dcm").read_bytes()))],
        },
        HTTP_ACCEPT="application/json",
    ).json()
    assert sorted(s["status"] for s in last["sessions"]) == ["READY", "READY"]
    assert set(PrearchiveSession.objects.values_list("status", flat=True)) == {Status.READY}


def test_admin_moves_an_unassigned_session_into_a_project_then_a_member_sees_it(as_user, cast, root, bob):
    session = ingest_file(pydicom_test_file("rtplan.dcm"), IngestContext(source="test", project=None)).session
    session = operations.rebuild_session(session, by=root)
    page = as_user(root).get(reverse("prearchive-session", args=args(session)))
    assert '<option value="A">A</option>' in page.content.decode()
    response = as_user(root).post(
        reverse("prearchive-action", args=args(session)), {"action": "move", "project": "A"}
    )
    session.refresh_from_db()
    assert session.project_id == "A" and response["Location"] == reverse(
        "prearchive-session", args=args(session)
    )
    listed = as_user(bob).get(reverse("prearchive-project", args=["A"])).context["rows"]
    assert [row.pk for row in listed] == [session.pk]
