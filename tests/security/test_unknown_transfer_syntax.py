"""Issue 14 item 12: a file in a made-up Transfer Syntax UID got a 500 from the REST import (even with
Ignore-Unparsable=true) and the upload page, and the receiver accepted such a presentation context,
answered success and quarantined the instance later. Now the receiver refuses the context at
negotiation, and uploads refuse the file by name (or skip and name it) and keep everything else."""

from __future__ import annotations

import io
import zipfile

import pytest
import requests
from pydicom.uid import MRImageStorage
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from dicom_receiver.models import QuarantinedInstance
from prearchive.models import PrearchiveFile
from tests.dicomgen import make_study, write_study, write_with_transfer_syntax
from tests.security.conftest import BOUND, browser_sign_in, csrf_token
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
MADE_UP = "1.2.840.10008.1.2.1.999"


def test_the_receiver_refuses_a_made_up_transfer_syntax_at_negotiation(start_live, project_a):
    live = start_live()
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(MRImageStorage, [MADE_UP])
    ae.add_requested_context(Verification)  # pynetdicom aborts an association without any context
    assoc = ae.associate("127.0.0.1", live.dicom_port, ae_title="XNATLITE")
    assert assoc.is_established
    try:
        # "transfer syntaxes not supported" (PS3.8 9.3.3.2): the sender knows before sending anything
        assert [(cx.abstract_syntax, cx.result) for cx in assoc.rejected_contexts] == [(MRImageStorage, 0x04)]
        assert [cx.abstract_syntax for cx in assoc.accepted_contexts] == [Verification]
        with pytest.raises(ValueError):  # pynetdicom has no context to send it in
            assoc.send_c_store(make_study(n_instances=1, study_description="A")[0])
    finally:
        assoc.release()
    assert not QuarantinedInstance.objects.exists()  # nothing acknowledged, nothing quarantined
    assert not PrearchiveFile.objects.exists()


@pytest.fixture
def upload_zip(tmp_path) -> bytes:
    """good.dcm, then odd.dcm in the made-up transfer syntax, then later.dcm."""
    good, later = write_study(make_study(n_instances=2, study_description="A"), tmp_path / "good")
    odd = write_with_transfer_syntax(tmp_path / "odd.dcm", make_study(n_instances=1)[0], MADE_UP)
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        archive.write(good, "good.dcm")
        archive.write(odd, "odd.dcm")
        archive.write(later, "later.dcm")
    return body.getvalue()


def test_the_rest_import_refuses_the_file_by_name_or_skips_and_names_it(start_live, project_a, upload_zip):
    live = start_live()
    url = live.url + "data/services/import?PROJECT_ID=A&import-handler=DICOM-zip"
    refused = requests.post(url, data=upload_zip, auth=("alice", "pw"), timeout=BOUND)
    assert refused.status_code == 400  # not 500
    assert "odd.dcm" in refused.text and MADE_UP in refused.text
    assert PrearchiveFile.objects.count() == 1  # good.dcm, before it, is kept; nothing after it was read

    skipped = requests.post(
        url + "&Ignore-Unparsable=true", data=upload_zip, auth=("alice", "pw"), timeout=BOUND
    )
    assert skipped.status_code == 200, skipped.text
    assert (skipped.headers["X-Skipped-Files"], skipped.headers["X-Skipped-File-Names"]) == ("1", "odd.dcm")
    assert PrearchiveFile.objects.count() == 2  # good.dcm and later.dcm: nothing else lost


def test_the_upload_page_names_the_file_it_could_not_read(start_live, project_a, tmp_path):
    live = start_live()
    browser = browser_sign_in(live.url, "alice")
    odd = write_with_transfer_syntax(tmp_path / "odd.dcm", make_study(n_instances=1)[0], MADE_UP)
    [good] = write_study(make_study(n_instances=1, study_description="A"), tmp_path / "good")
    page = browser.get(live.url + "upload/", timeout=BOUND)

    def post(*paths):
        with_files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
        return browser.post(
            live.url + "upload/",
            data={"project": "A", "csrfmiddlewaretoken": csrf_token(page.text)},
            files=with_files,
            headers={"Accept": "application/json", "Referer": live.url + "upload/"},
            timeout=BOUND,
        )

    alone = post(odd)
    assert alone.status_code == 400  # not 500: nothing could be read, and it says which
    assert "odd.dcm" in alone.json()["error"]
    assert not PrearchiveFile.objects.exists()

    mixed = post(good, odd)
    assert mixed.status_code == 200
    assert (mixed.json()["files"], mixed.json()["skipped"]) == (1, ["odd.dcm"])
    wait_for(lambda: PrearchiveFile.objects.count() == 1, what="good.dcm", timeout=BOUND)  # kept
