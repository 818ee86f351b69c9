"""Hostile or broken requests: bounded QIDO-RS queries, STOW-RS bodies that are not what they say (no
boundary, a boundary that never appears, a body that stops inside a part) answered 4xx with nothing
stored, and a STOW-RS from another site's page refused (CSRF)."""

from __future__ import annotations

import pytest
import requests

from prearchive.models import PrearchiveFile, PrearchiveSession
from tests.dicomgen import make_study
from tests.sessions import encode

pytestmark = pytest.mark.e2e


def test_qido_bounds_includefield_and_limit(cast, archive_study, server, alice):
    archive_study("A", alice, n_series=1, n_instances=1)
    url = f"{server}/dicomweb/studies"
    many = requests.get(url, params={"includefield": ",".join(["PatientName"] * 1000)}, auth=("alice", "pw"))
    assert many.status_code == 400 and "includefield" in many.text
    repeated = requests.get(url, params=[("includefield", "StudyDescription")] * 1000, auth=("alice", "pw"))
    assert repeated.status_code == 400
    unknown = requests.get(url, params={"includefield": "NoSuchKeyword"}, auth=("alice", "pw"))
    assert unknown.status_code == 400 and "NoSuchKeyword" in unknown.text
    huge = requests.get(url, params={"limit": "100000000"}, auth=("alice", "pw"))
    assert huge.status_code == 200 and "limit lowered to 1000" in huge.headers["Warning"]
    assert requests.get(url, params={"limit": "-1"}, auth=("alice", "pw")).status_code == 400
    assert requests.get(url, params={"StudyDate": "yesterday"}, auth=("alice", "pw")).status_code == 400
    series_only = requests.get(url, params={"SOPInstanceUID": "1.2"}, auth=("alice", "pw"))
    assert series_only.status_code == 400  # an instance attribute cannot match studies
    wrong = requests.get(url, headers={"Accept": "application/dicom+xml"}, auth=("alice", "pw"))
    assert wrong.status_code == 406 and "application/dicom+json" in wrong.text


def _post(server, body: bytes, content_type: str, **headers):
    return requests.post(
        f"{server}/dicomweb/studies",
        data=body,
        headers={"Content-Type": content_type, **headers},
        auth=("alice", "pw"),
    )


def _instance() -> bytes:
    return encode(make_study(1, 1, study_description="A")[0]).getvalue()


def test_stow_without_a_boundary_is_refused_and_stores_nothing(cast, server):
    body = b"--XX\r\nContent-Type: application/dicom\r\n\r\n" + _instance() + b"\r\n--XX--\r\n"
    answer = _post(server, body, 'multipart/related; type="application/dicom"')
    assert answer.status_code == 400 and "boundary" in answer.text
    never = _post(server, body, 'multipart/related; type="application/dicom"; boundary=NEVER-THERE')
    assert never.status_code == 400 and "boundary" in never.text
    cut = _post(server, body[:-10], 'multipart/related; type="application/dicom"; boundary=XX')
    assert cut.status_code == 400 and "ends inside a part" in cut.text
    # a body with no delimiter at all, larger than the preamble allowed: refused without reading on
    endless = _post(server, b"x" * (1024 * 1024), 'multipart/related; type="application/dicom"; boundary=XX')
    assert endless.status_code == 400
    assert _post(server, body, "application/dicom").status_code == 415
    json_body = _post(server, body, 'multipart/related; type="application/dicom+json"; boundary=XX')
    assert json_body.status_code == 415
    assert not PrearchiveSession.objects.exists() and not PrearchiveFile.objects.exists()


def test_stow_from_another_sites_page_is_refused(cast, server):
    body = b"--XX\r\nContent-Type: application/dicom\r\n\r\n" + _instance() + b"\r\n--XX--\r\n"
    answer = _post(
        server,
        body,
        'multipart/related; type="application/dicom"; boundary=XX',
        Origin="https://evil.example",
    )
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert not PrearchiveSession.objects.exists()
    assert _post(server, body, 'multipart/related; type="application/dicom"; boundary=XX').status_code == 200
    assert PrearchiveFile.objects.count() == 1
