"""Every DICOMweb service through dicomweb-client against a live server: QIDO-RS matching and paging,
WADO-RS retrieval (instances, metadata, bulk data, rendered), STOW-RS into the prearchive."""

from __future__ import annotations

import pydicom
import pytest
import requests

from archive.models import File
from prearchive.models import PrearchiveFile, PrearchiveSession
from tests.dicomgen import make_study

pytestmark = pytest.mark.e2e


def uids(results, tag="0020000D"):
    return sorted(r[tag]["Value"][0] for r in results)


def archived(session) -> list[pydicom.Dataset]:
    """The session's archived instances as they are on disk (the site script changed their UIDs)."""
    files = File.objects.filter(resource__scan__session=session, resource__label="DICOM").order_by("path")
    return [pydicom.dcmread(f.absolute_path) for f in files]


def test_qido_finds_studies_series_and_instances(cast, archive_study, client, alice):
    session, _ = archive_study("A", alice, modality="MR", study_date="20200615")
    datasets = archived(session)
    other, _ = archive_study(
        "A", alice, modality="CT", study_date="20210101", patient_name="OTHER^9", patient_id="X9"
    )
    web = client(alice)
    study_uid = session.study_instance_uid
    assert uids(web.search_for_studies()) == sorted([study_uid, other.study_instance_uid])
    found = web.search_for_studies(search_filters={"StudyDate": "20200101-20201231"})
    assert uids(found) == [study_uid]
    assert found[0]["00080061"]["Value"] == ["MR"]  # ModalitiesInStudy
    assert found[0]["00201206"]["Value"] == [2] and found[0]["00201208"]["Value"] == [4]
    assert uids(web.search_for_studies(search_filters={"ModalitiesInStudy": "CT"})) == [
        other.study_instance_uid
    ]
    assert uids(web.search_for_studies(search_filters={"StudyInstanceUID": f"{study_uid},1.2.3"})) == [
        study_uid
    ]
    assert uids(web.search_for_studies(search_filters={"PatientName": "oth*"})) == [other.study_instance_uid]
    assert uids(web.search_for_studies(search_filters={"PatientID": "X?"})) == [other.study_instance_uid]
    # Study Description is not on the rows: matched on the header, and given with includefield
    described = web.search_for_studies(search_filters={"StudyDescription": "A"}, fields=["StudyDescription"])
    assert len(described) == 2 and described[0]["00081030"]["Value"] == ["A"]
    assert web.search_for_studies(search_filters={"StudyDescription": "B*"}) == []
    everything = web.search_for_studies(search_filters={"StudyInstanceUID": study_uid}, fields=["all"])
    assert everything[0]["00081030"]["Value"] == ["A"] and "00100040" in everything[0]  # all: from the header
    assert len(web.search_for_studies(limit=1)) == 1
    assert uids(web.search_for_studies(limit=1, offset=1) + web.search_for_studies(limit=1)) == sorted(
        [study_uid, other.study_instance_uid]
    )
    assert len(web.search_for_studies(fuzzymatching=True)) == 2

    series = web.search_for_series(study_uid)
    assert sorted(s["0020000E"]["Value"][0] for s in series) == sorted(
        {ds.SeriesInstanceUID for ds in datasets}
    )
    assert {s["00200011"]["Value"][0] for s in series} == {1, 2}  # SeriesNumber
    assert len(web.search_for_series(search_filters={"Modality": "CT"})) == 2
    series_uid = datasets[0].SeriesInstanceUID
    instances = web.search_for_instances(study_uid, series_uid)
    assert sorted(i["00080018"]["Value"][0] for i in instances) == sorted(
        ds.SOPInstanceUID for ds in datasets if ds.SeriesInstanceUID == series_uid
    )
    assert instances[0]["00280010"]["Value"] == [16]  # Rows, from the header
    assert instances[0]["00081190"]["Value"][0].endswith(f"/instances/{instances[0]['00080018']['Value'][0]}")
    assert len(web.search_for_instances()) == 8
    assert len(web.search_for_instances(study_uid)) == 4


def test_wado_retrieves_instances_metadata_and_bulk_data(cast, archive_study, client, alice):
    session, _ = archive_study("A", alice)
    datasets = archived(session)
    web = client(alice)
    study_uid, first = session.study_instance_uid, datasets[0]
    streamed = web._session.get(f"{web.base_url}/studies/{study_uid}", stream=True)
    assert "Content-Length" not in streamed.headers  # streamed file by file, never built in memory
    streamed.close()
    study = web.retrieve_study(study_uid)
    assert sorted(ds.SOPInstanceUID for ds in study) == sorted(ds.SOPInstanceUID for ds in datasets)
    assert {str(ds.PatientName) for ds in study} == {"SUBJ_001"}  # the archived files, with the final labels
    series = web.retrieve_series(study_uid, first.SeriesInstanceUID)
    assert len(series) == 2
    instance = web.retrieve_instance(study_uid, first.SeriesInstanceUID, first.SOPInstanceUID)
    assert instance.SOPInstanceUID == first.SOPInstanceUID
    assert instance.PixelData == first.PixelData

    metadata = web.retrieve_study_metadata(study_uid)
    assert len(metadata) == 4
    one = web.retrieve_instance_metadata(study_uid, first.SeriesInstanceUID, first.SOPInstanceUID)
    assert one["00080018"]["Value"] == [first.SOPInstanceUID]
    uri = one["7FE00010"]["BulkDataURI"]
    (pixels,) = web.retrieve_bulkdata(uri)
    assert pixels == first.PixelData
    assert len(web.retrieve_series_metadata(study_uid, first.SeriesInstanceUID)) == 2
    (frame,) = web.retrieve_instance_frames(study_uid, first.SeriesInstanceUID, first.SOPInstanceUID, [1])
    assert frame == first.PixelData  # one frame of 16 x 16 x 16 bits

    rendered = web.retrieve_instance_rendered(
        study_uid,
        first.SeriesInstanceUID,
        first.SOPInstanceUID,
        media_types=("image/png",),
        params={"window": "2000,4000"},
    )
    assert rendered.startswith(b"\x89PNG")
    thumb = web._session.get(
        f"{web.base_url}/studies/{study_uid}/series/{first.SeriesInstanceUID}/instances/{first.SOPInstanceUID}/thumbnail",
        headers={"Accept": "image/jpeg"},
    )
    assert thumb.status_code == 200 and thumb.content.startswith(b"\xff\xd8")


def test_wado_answers_406_with_a_reason(cast, archive_study, client, alice, server):
    session, datasets = archive_study("A", alice, n_series=1, n_instances=1)
    web = client(alice)
    url = f"{server}/dicomweb/studies/{session.study_instance_uid}"
    answer = web._session.get(
        url,
        headers={
            "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
        },
    )
    assert answer.status_code == 406 and "transfer-syntax=*" in answer.text
    answer = web._session.get(url, headers={"Accept": "application/zip"})
    assert answer.status_code == 406 and "multipart/related" in answer.text


def test_stow_stores_into_the_prearchive_through_routing(cast, client, bob):
    datasets = make_study(1, 3, study_description="A", patient_name="SUBJ^002", patient_id="P2")
    stored = client(bob).store_instances(datasets)
    refs = stored.ReferencedSOPSequence
    assert sorted(r.ReferencedSOPInstanceUID for r in refs) == sorted(ds.SOPInstanceUID for ds in datasets)
    assert "FailedSOPSequence" not in stored
    session = PrearchiveSession.objects.get()
    assert session.project_id == "A"
    assert PrearchiveFile.objects.filter(session=session).count() == 3


def test_stow_routed_to_a_project_the_uploader_may_not_use_lands_in_their_unassigned(cast, client, dave):
    datasets = make_study(1, 1, study_description="A")  # routing names A, which dave may not use
    client(dave).store_instances(datasets)
    session = PrearchiveSession.objects.get()
    assert session.project_id is None and session.uploader_id == dave.pk


def test_stow_to_a_project_root(cast, client, alice):
    datasets = make_study(1, 2, study_description="nothing routable")
    client(alice, project="A").store_instances(datasets)
    assert PrearchiveSession.objects.get().project_id == "A"


def test_stow_to_a_project_the_uploader_may_not_use_is_refused(cast, client, carol, dave, server):
    datasets = make_study(1, 1)
    with pytest.raises(requests.HTTPError) as refused:
        client(carol, project="A").store_instances(datasets)  # a collaborator has no prearchive
    assert refused.value.response.status_code == 403
    with pytest.raises(requests.HTTPError) as hidden:
        client(dave, project="A").store_instances(datasets)
    assert hidden.value.response.status_code == 404
    assert not PrearchiveSession.objects.exists()


def test_stow_reports_parts_that_are_not_dicom(cast, client, alice, server):
    good = make_study(1, 1, study_description="A")[0]
    web = client(alice)
    buffer = __import__("io").BytesIO()
    good.save_as(buffer, enforce_file_format=True)
    body = (
        b"--XX\r\nContent-Type: application/dicom\r\n\r\n"
        + buffer.getvalue()
        + b"\r\n--XX\r\nContent-Type: application/dicom\r\n\r\nnot dicom at all\r\n--XX--\r\n"
    )
    answer = web._session.post(
        f"{server}/dicomweb/studies",
        data=body,
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=XX'},
    )
    assert answer.status_code == 202
    result = pydicom.Dataset.from_json(answer.json())
    assert [r.ReferencedSOPInstanceUID for r in result.ReferencedSOPSequence] == [good.SOPInstanceUID]
    assert result.FailedSOPSequence[0].FailureReason == 0xC000
    assert PrearchiveFile.objects.count() == 1


def test_pydicoms_files_go_in_by_stow_and_come_out_by_wado(cast, client, alice):
    from prearchive import handoff
    from tests.dicomgen import pydicom_test_file

    sent = [pydicom.dcmread(pydicom_test_file(name)) for name in ("CT_small.dcm", "MR_small.dcm")]
    stored = client(alice, project="A").store_instances(sent)
    assert len(stored.ReferencedSOPSequence) == 2
    archived = []
    for session in PrearchiveSession.objects.order_by("pk"):
        assert session.project_id == "A"
        archived.append(handoff.archive_session(session, by=alice, confirm_identifiers=True).session)
    web = client(alice, project="A")
    studies = web.search_for_studies(fields=["StudyDescription"])
    assert sorted(s["0020000D"]["Value"][0] for s in studies) == sorted(
        s.study_instance_uid for s in archived
    )
    for session in archived:
        (instance,) = web.search_for_instances(session.study_instance_uid)
        series_uid, sop_uid = instance["0020000E"]["Value"][0], instance["00080018"]["Value"][0]
        retrieved = web.retrieve_instance(session.study_instance_uid, series_uid, sop_uid)
        on_disk = File.objects.get(sop_instance_uid=sop_uid).absolute_path
        assert retrieved.PixelData == pydicom.dcmread(on_disk).PixelData
        image = web.retrieve_instance_rendered(
            session.study_instance_uid, series_uid, sop_uid, media_types=("image/png",)
        )
        assert image.startswith(b"\x89PNG")
