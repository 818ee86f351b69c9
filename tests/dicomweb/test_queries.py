"""QIDO-RS queries in-process: matching on headers is bounded, and reads one header per candidate."""

from __future__ import annotations

from dicomweb import queries
from dicomweb.dicomjson import STUDY


def test_matching_on_headers_stops_after_its_bound(cast, archive_study, alice, monkeypatch):
    for n in range(3):
        archive_study("A", alice, n_series=1, n_instances=1, patient_id=f"P{n}")
    projects = queries.readable_projects(alice)
    query = queries.parse_query({"StudyDescription": ["A"]}, STUDY)
    assert len(queries.search(query, projects)) == 3 and not query.warnings
    monkeypatch.setattr(queries, "HEADERS_READ_MAX", 2)
    bounded = queries.parse_query({"StudyDescription": ["nothing*"]}, STUDY)
    assert queries.search(bounded, projects) == []
    assert bounded.warnings == ["299 xnatlite: matching on StudyDescription stopped after 2 candidates"]


def test_a_stranger_finds_nothing_and_a_project_root_only_its_project(cast, archive_study, alice, dave):
    session, _ = archive_study("A", alice, n_series=1, n_instances=1)
    archive_study("D", dave, n_series=1, n_instances=1)
    query = queries.parse_query({}, STUDY)
    assert [m.row.pk for m in queries.search(query, queries.readable_projects(alice, session.project))] == [
        session.pk
    ]
    assert session.pk not in [m.row.pk for m in queries.search(query, queries.readable_projects(dave))]
