"""Accession IDs stay unique when many threads create subjects at once (real transactions)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from archive.models import AccessionCounter, Subject
from archive.services.subjects import create_subject
from tests.factories import TESTS, UserFactory, make_project


@pytest.mark.django_db(transaction=True)
def test_200_subjects_from_8_threads_get_200_distinct_ids():
    owner = UserFactory(username="owner")
    project = make_project("CONC", owner)

    def create(n: int) -> str:
        try:
            return create_subject(project, f"S{n:03d}", by=TESTS).accession_id
        finally:
            connection.close()  # each thread has its own connection; give it back

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(200)))

    assert len(set(ids)) == 200
    assert Subject.objects.count() == 200
    assert set(Subject.objects.values_list("accession_id", flat=True)) == set(ids)
    assert sorted(ids)[-1] == "XNATLITE_S00200"
    assert AccessionCounter.objects.get(prefix="XNATLITE_S").last == 200
