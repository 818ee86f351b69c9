"""Site admins add commands in Django admin, validated on save; nobody else may."""

import json

from pipelines.models import Command, Wrapper
from tests.factories import UserFactory
from tests.pipelines.test_documents import XNAT_DCM2NIIX

INLINE = {"wrappers-TOTAL_FORMS": "0", "wrappers-INITIAL_FORMS": "0"}  # the wrappers' (empty) inline


def test_a_site_admin_adds_a_command_and_its_wrappers(root, as_user):
    response = as_user(root).post(
        "/admin/pipelines/command/add/", {"document": json.dumps(XNAT_DCM2NIIX), "enabled": "on", **INLINE}
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    command = Command.objects.get(name="dcm2niix", version="1.3")
    assert list(Wrapper.objects.filter(command=command).values_list("name", "level")) == [
        ("dcm2niix-scan", "scan")
    ]


def test_a_bad_command_is_refused_naming_the_field(root, as_user):
    bad = {**XNAT_DCM2NIIX, "outputs": [{"name": "nifti", "mount": "elsewhere"}]}
    response = as_user(root).post(
        "/admin/pipelines/command/add/", {"document": json.dumps(bad), "enabled": "on", **INLINE}
    )
    assert response.status_code == 200
    assert "outputs.0.mount: no mount named" in response.content.decode()
    assert not Command.objects.filter(version="1.3").exists()


def test_staff_who_are_not_site_admins_may_not(db, as_user):
    staff = UserFactory(username="staff", is_staff=True)
    assert as_user(staff).get("/admin/pipelines/command/add/").status_code == 403
