"""`/data/services/archive`, `validate-archive` and `prearchive/{move,delete,rebuild}`: each through
prearchive/operations.py; others' sessions are not found."""

from __future__ import annotations

from pathlib import Path

import pydicom

from archive.models import File, ImageSession
from prearchive.models import PrearchiveSession, Status
from tests.factories import make_project
from tests.xnatapi.conftest import imported
from xnatlite.models import AuditEvent


def test_archive_service_archives_with_new_labels_and_answers_the_uri(api, alice, project_a):
    client = api(alice)
    src, row = imported(client)
    response = client.post(f"/data/services/archive?src={src}&auto-archive=false&subject=SUBJ&session=SESS")
    assert response.status_code == 200, response.content
    assert response.content.decode() == "/data/archive/projects/A/subjects/SUBJ/experiments/SESS\r\n"
    assert not PrearchiveSession.objects.filter(pk=row.pk).exists()
    session = ImageSession.objects.get(project=project_a, label="SESS")
    assert session.subject.label == "SUBJ"
    files = File.objects.filter(resource__scan__session=session)
    assert files.count() == 2
    for f in files:
        ds = pydicom.dcmread(f.absolute_path)
        assert (str(ds.PatientName), ds.PatientID) == ("SUBJ", "SESS")
    # xnatpy reads the answer back with /data/archive rewritten to /data.
    item = client.get("/data/projects/A/subjects/SUBJ/experiments/SESS?format=json").json()["items"][0]
    assert item["data_fields"]["ID"] == session.accession_id


def test_src_without_data_prefix_and_form_body(api, alice, project_a):
    client = api(alice)
    src, _ = imported(client)
    response = client.post(
        "/data/services/archive",
        f"src={src.removeprefix('/data')}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert ImageSession.objects.filter(label="E9").exists()


def test_archiving_onto_an_existing_label_is_a_conflict_and_the_row_says_why(api, alice, project_a):
    client = api(alice)
    first, _ = imported(client, session="E1")
    assert client.post(f"/data/services/archive?src={first}").status_code == 200
    second, row = imported(client, session="E2")
    validation = client.post(f"/data/services/validate-archive?src={second}&session=E1&format=json")
    codes = {r["code"] for r in validation.json()["ResultSet"]["Result"]}
    assert "1" in codes
    response = client.post(f"/data/services/archive?src={second}&session=E1")
    assert response.status_code == 409
    row.refresh_from_db()
    assert row.status == Status.CONFLICT and row.status_reason
    assert ImageSession.objects.filter(label="E1").count() == 1


def test_others_may_not_archive(api, alice, carol, dave, project_a):
    src, row = imported(api(alice))
    assert api(carol).post(f"/data/services/archive?src={src}").status_code == 404
    assert api(dave).post(f"/data/services/archive?src={src}").status_code == 404
    row.refresh_from_db()
    assert row.status == Status.READY and not ImageSession.objects.exists()


def test_move_delete_and_rebuild(api, alice, project_a):
    client = api(alice)
    make_project("B", alice)
    src, row = imported(client)
    moved = client.post(f"/data/services/prearchive/move?src={src}&newProject=B&format=json")
    assert moved.status_code == 200, moved.content
    row.refresh_from_db()
    assert row.project_id == "B" and moved.json()["ResultSet"]["Result"][0]["project"] == "B"
    rebuilt = client.post(f"/data/services/prearchive/rebuild?src=/data{row.url}")
    assert rebuilt.status_code == 200
    folder = Path(row.folder)
    # pyxnat's delete: a form body, format=csv.
    deleted = client.post(
        "/data/services/prearchive/delete?format=csv",
        f"src={row.url}&async=false",
        content_type="application/x-www-form-urlencoded",
    )
    assert deleted.status_code == 200
    assert b"".join(deleted.streaming_content).decode().startswith("project,")
    assert not PrearchiveSession.objects.filter(pk=row.pk).exists() and not folder.exists()


def test_others_may_not_move_delete_or_rebuild(api, alice, carol, dave, project_a):
    src, row = imported(api(alice))
    make_project("B", alice)
    for client in (api(carol), api(dave)):
        for action in ("move", "delete", "rebuild"):
            response = client.post(f"/data/services/prearchive/{action}?src={src}&newProject=B")
            assert response.status_code == 404, action
    row.refresh_from_db()
    assert (row.project_id, row.status) == ("A", Status.READY) and Path(row.folder).is_dir()


# --- the identity policy (archiving/identity.py) -----------------------------------------------------
def test_archive_refuses_name_and_mrn_labels_unless_confirmed_and_audits_the_confirmation(
    api, bob, project_a
):
    client = api(bob)
    src, row = imported(client, subject="LOE_LISA", session="MRN0044444")
    refused = client.post(f"/data/services/archive?src={src}")
    assert refused.status_code == 409
    body = refused.content.decode()
    assert "'LOE_LISA' looks like a person's name" in body and "'MRN0044444' looks like a medical" in body
    assert body.endswith("confirmIdentifiers=true")
    row.refresh_from_db()
    assert row.status == Status.READY and row.status_reason == ""  # nothing changed: ask again
    assert not ImageSession.objects.exists()
    validation = client.post(f"/data/services/validate-archive?src={src}&format=json").json()
    assert any(r["code"] == "30" and r["type"] == "FAIL" for r in validation["ResultSet"]["Result"])
    relabelled = client.post(f"/data/services/validate-archive?src={src}&subject=S1&session=E1&format=json")
    assert all(r["code"] != "30" for r in relabelled.json()["ResultSet"]["Result"])

    confirmed = client.post(f"/data/services/archive?src={src}&confirmIdentifiers=true")
    assert confirmed.status_code == 200, confirmed.content
    assert (
        confirmed.content.decode() == "/data/archive/projects/A/subjects/LOE_LISA/experiments/MRN0044444\r\n"
    )
    event = AuditEvent.objects.get(action="prearchive.session.archive_requested")
    assert event.actor == bob and event.details["confirm_identifiers"] is True
    assert any("LOE_LISA" in finding for finding in event.details["confirmed_identifiers"])


def test_archive_with_coded_labels_needs_no_confirmation(api, bob, project_a):
    client = api(bob)
    src, _ = imported(client, subject="LOE_LISA", session="MRN0044444")
    response = client.post(f"/data/services/archive?src={src}&subject=SUBJ12&session=SUBJ12_MR1")
    assert response.status_code == 200, response.content
    assert ImageSession.objects.get(label="SUBJ12_MR1").subject.label == "SUBJ12"
