"""Subjects and their accession IDs through archive/services/: rows and audit afterwards."""

import pytest

from archive.models import Subject
from archive.services.accession import next_accession_id
from archive.services.subjects import create_subject, find_subject
from xnatlite.errors import Forbidden, InvalidInput, InvalidLabel


def test_subjects_get_sequential_accession_ids_never_reused(project_a, bob, settings):
    settings.SITE_ID_PREFIX = "CNDA-x"
    first = create_subject(project_a, "S1", by=bob)
    second = create_subject(project_a, "S2", by=bob)
    assert (first.accession_id, second.accession_id) == ("CNDA_x_S00001", "CNDA_x_S00002")
    second.delete()
    third = create_subject(project_a, "S3", by=bob)
    assert third.accession_id == "CNDA_x_S00003"
    assert next_accession_id("E") == "CNDA_x_E00001"


def test_subject_labels_are_unique_without_case_and_validated(project_a, bob, carol):
    create_subject(project_a, "Sub_01", by=bob)
    with pytest.raises(InvalidInput, match="already exists"):
        create_subject(project_a, "SUB_01", by=bob)
    with pytest.raises(InvalidLabel, match="may only contain"):
        create_subject(project_a, "Sub 02", by=bob)
    with pytest.raises(Forbidden):
        create_subject(project_a, "Sub_03", by=carol)
    assert list(Subject.objects.values_list("label", flat=True)) == ["Sub_01"]
    assert find_subject(project_a, "sub_01").label == "Sub_01"
