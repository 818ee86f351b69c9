"""The "How to send data" box (dicom_receiver/templatetags/sending.py) on the project page, its
prearchive and the upload page (issue 15)."""

import pytest
from django.urls import reverse

from dicom_receiver.models import Receiver


@pytest.fixture
def receivers(db):
    Receiver.objects.create(ae_title="XNATLITE", port=8104, description="the scanners")
    Receiver.objects.create(ae_title="OFF", port=9999, enabled=False)


@pytest.mark.parametrize(
    "url",
    [reverse("project-detail", args=["A"]), reverse("prearchive-project", args=["A"]), "/upload/?project=A"],
)
def test_members_are_told_the_receiver_the_routing_rule_and_the_upload_command(
    as_user, project_a, bob, receivers, url, settings
):
    settings.ALLOWED_HOSTS = ["pacs.example.org"]
    html = as_user(bob).get(url, HTTP_HOST="pacs.example.org").content.decode()
    box = html[html.index('id="how-to-send"') :]
    box = box[: box.index("</details>")]
    assert (
        "<code>XNATLITE</code>" in box
        and "<code>8104</code>" in box
        and "<code>pacs.example.org</code>" in box
    )
    assert "OFF" not in box and "9999" not in box  # a disabled receiver is not offered
    assert 'Project: <span class="project-id">A</span>' in box and "Study Description (0008,1030)" in box
    assert "Patient Comments (0010,4000)" in box
    assert (
        "xnatlite-upload send FOLDER --server http://pacs.example.org/ --user bob "
        '--project <span class="project-id">A</span>'
    ) in box


def test_a_collaborator_is_not_told_how_to_send(as_user, project_a, carol, receivers):
    html = as_user(carol).get(reverse("project-detail", args=["A"])).content.decode()
    assert "how-to-send" not in html


def test_without_a_receiver_it_says_so_and_the_site_prearchive_names_no_project(as_user, project_a, bob):
    html = as_user(bob).get(reverse("prearchive")).content.decode()
    assert "No DICOM receiver is enabled" in html
    assert '--project <span class="project-id">PROJECT</span>' in html
