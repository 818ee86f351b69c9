"""Relabelling archived subjects and sessions (archiving/relabel.py): the labels in the DICOM headers
follow, as archiving writes them (Patient Name = subject, Patient ID = session), the pixel data stays
byte for byte, rows, catalogs and files agree, a hard link elsewhere is never written into."""

import os

import pydicom
from django.test import Client
from django.urls import reverse

from archive.models import File, ImageSession
from archiving import relabel
from prearchive import handoff
from tests.sessions import check_archived
from tests.xnatapi.conftest import basic
from xnatlite.models import AuditEvent


def archived(ready, bob, subject: str, label: str, **study) -> ImageSession:
    session = ready(n_series=2, n_instances=2, **study)
    asked = {"subject": subject, "label": label, "confirm_identifiers": True}  # what a rename fixes
    return handoff.archive_session(session, by=bob, **asked).session


def headers_of(session: ImageSession) -> set[tuple[str, str]]:
    files = File.objects.filter(resource__scan__session=session, resource__label="DICOM")
    return {
        (str(ds.PatientName), ds.PatientID)
        for ds in (pydicom.dcmread(f.absolute_path, stop_before_pixels=True) for f in files)
    }


def pixels_of(session: ImageSession) -> dict[str, bytes]:
    files = File.objects.filter(resource__scan__session=session, resource__label="DICOM")
    return {f.sop_instance_uid: pydicom.dcmread(f.absolute_path).PixelData for f in files}


def test_relabelling_a_session_rewrites_patient_id_in_its_files(transactional_db, ready, project_a, bob):
    session = archived(ready, bob, "SUBJ1", "MRN0044444")
    assert headers_of(session) == {("SUBJ1", "MRN0044444")}
    pixels = pixels_of(session)
    elsewhere = session.scans.first().resources.get(label="DICOM").files.first()
    link = elsewhere.absolute_path.parent.parent.parent.parent.parent / "kept-link.dcm"
    os.link(elsewhere.absolute_path, link)  # e.g. a merge backup: never written into
    before = link.read_bytes()

    relabel.relabel_session(session, "SUBJ1_MR1", by=bob)

    session.refresh_from_db()
    assert session.label == "SUBJ1_MR1"
    assert headers_of(session) == {("SUBJ1", "SUBJ1_MR1")}  # the MRN is gone from the files
    assert pixels_of(session) == pixels
    check_archived(session)  # rows' sizes and MD5s, catalogs and files agree
    assert (session.dcm_patient_name, session.dcm_patient_id) == ("SUBJ1", "SUBJ1_MR1")
    assert link.read_bytes() == before
    event = AuditEvent.objects.get(action="archive.session.headers_rewritten")
    assert event.actor == bob and event.details == {"files": 4, "unreadable": 0}
    assert relabel.write_labels(session, by=bob) == 0  # done: a second run finds nothing to do


def test_relabelling_a_subject_rewrites_patient_name_in_all_its_sessions(
    transactional_db, ready, project_a, bob
):
    first = archived(ready, bob, "LOE_LISA", "E1", patient_name="P^1", patient_id="X1")
    second = archived(ready, bob, "LOE_LISA", "E2", patient_name="P^2", patient_id="X2")
    relabel.relabel_subject(first.subject, "SUBJ44", by=bob)
    assert headers_of(first) == {("SUBJ44", "E1")} and headers_of(second) == {("SUBJ44", "E2")}
    for session in (first, second):
        check_archived(ImageSession.objects.get(pk=session.pk))
    assert AuditEvent.objects.filter(action="archive.session.headers_rewritten").count() == 2


def test_the_relabel_page_and_the_api_rewrite_the_headers(transactional_db, ready, as_user, project_a, bob):
    session = archived(ready, bob, "SUBJ1", "E1")
    response = as_user(bob).post(reverse("session-relabel", args=["A", "E1"]), {"label": "E1b"})
    assert response.status_code == 302
    assert headers_of(ImageSession.objects.get(pk=session.pk)) == {("SUBJ1", "E1b")}
    response = Client(HTTP_AUTHORIZATION=basic("bob")).put("/data/projects/A/subjects/SUBJ1?label=SUBJ2")
    assert response.status_code == 200, response.content
    assert headers_of(ImageSession.objects.get(pk=session.pk)) == {("SUBJ2", "E1b")}
    check_archived(ImageSession.objects.get(pk=session.pk))
