"""Dates researchers can use (issue 15): through the real ingest and archive path, the default scripts keep
the study dates, and a project script that shifts them by the subject's secret offset moves every session
of a subject by the same days (intervals survive) and different subjects by different days."""

import datetime

import pydicom

from anonymize import services as anonymize_services
from anonymize.defaults import default_project_script_text
from anonymize.models import SubjectDateShift
from archive.models import File, ImageSession
from prearchive import handoff
from tests.factories import TESTS

SHIFTING = default_project_script_text() + (
    '\nshiftSubjectDates["(0008,0020)", "(0008,0021)", "(0008,0030)", "(0008,002A)"]\n'
    "(0010,21B0) := subjectDateShift[]\n"  # only to read the shift back from the file in this test
)


def archive_visit(ready, subject: str, session: str, study_date: str) -> ImageSession:
    prearchived = ready(
        n_series=1, n_instances=2, patient_name=subject, patient_id=session, study_date=study_date
    )
    outcome = handoff.archive_session(prearchived, by=TESTS)
    assert outcome.status == "archived", outcome
    return outcome.session


def headers(session: ImageSession) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(f.absolute_path) for f in File.objects.filter(resource__scan__session=session)]


def day(text: str) -> datetime.date:
    return datetime.datetime.strptime(text, "%Y%m%d").date()


def test_default_scripts_keep_the_study_date(ready, project_a):
    archived = archive_visit(ready, "SUBJ1", "SUBJ1_MR1", "20240102")
    assert archived.date == datetime.date(2024, 1, 2)  # the date column, sorting and the date filter
    assert {(ds.StudyDate, ds.StudyTime) for ds in headers(archived)} == {("20240102", "101500")}
    assert not SubjectDateShift.objects.exists()  # the default scripts never draw a shift


def test_sessions_of_a_subject_move_together_and_subjects_apart(ready, project_a, alice):
    anonymize_services.save_project_script(project_a, SHIFTING, enabled=True, by=alice)
    first = archive_visit(ready, "SUBJ1", "SUBJ1_MR1", "20240102")
    second = archive_visit(ready, "SUBJ1", "SUBJ1_MR2", "20240301")
    others = [archive_visit(ready, f"SUBJ{n}", f"SUBJ{n}_MR1", "20240102") for n in (2, 3, 4)]

    shift = SubjectDateShift.objects.get(project=project_a, subject="SUBJ1").days
    assert shift != 0 and -365 <= shift <= 365
    for session, original in ((first, "20240102"), (second, "20240301")):
        expected = day(original) + datetime.timedelta(days=shift)
        assert session.date == expected
        for ds in headers(session):
            assert (day(ds.StudyDate), ds.StudyTime) == (expected, "101500")  # whole days: the time stays
            assert ds.AdditionalPatientHistory == str(shift)
    assert (second.date - first.date).days == 59  # the interval survives

    shifts = dict(SubjectDateShift.objects.filter(project=project_a).values_list("subject", "days"))
    assert set(shifts) == {"SUBJ1", "SUBJ2", "SUBJ3", "SUBJ4"}
    assert len(set(shifts.values())) > 1  # drawn per subject (four equal draws: 1 in 730**3)
    for session in others:
        subject = session.subject.label
        assert session.date == datetime.date(2024, 1, 2) + datetime.timedelta(days=shifts[subject])


def test_the_shift_is_per_project(ready, project_a, alice, project_d):
    anonymize_services.save_project_script(project_a, SHIFTING, enabled=True, by=alice)
    archive_visit(ready, "SUBJ1", "SUBJ1_MR1", "20240102")
    # the same subject label in another project has a shift of its own, drawn only when asked
    assert SubjectDateShift.objects.filter(subject="SUBJ1").count() == 1
    other = anonymize_services.subject_date_shift(project_d, "SUBJ1")
    assert SubjectDateShift.objects.filter(subject="SUBJ1").count() == 2
    assert other == anonymize_services.subject_date_shift(project_d, "SUBJ1")
