"""Issue 14 item 5: any account could create a project (or an alias) named like a common Study
Description and so capture the scanner data routed to it. By default only site admins create projects;
others request one, which an admin approves; and an ID or alias naming data already waiting in
Unassigned needs an admin, whoever asks."""

from __future__ import annotations

import pytest
import requests

from prearchive.models import PrearchiveSession
from tests.dicomgen import make_study, send_datasets
from tests.factories import UserFactory
from tests.security.conftest import BOUND, browser_sign_in, post_form
from tests.waiting import wait_for
from xnatlite import permissions
from xnatlite.models import AuditEvent, Project, ProjectAlias, ProjectRequest

pytestmark = pytest.mark.e2e


def test_only_admins_create_projects_others_request_one(start_live, dave):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    live = start_live()
    refused = requests.put(live.url + "data/projects/BRAIN", auth=("dave", "pw"), timeout=BOUND)
    assert refused.status_code == 403 and "request one" in refused.text
    assert not Project.objects.exists()

    web = browser_sign_in(live.url, "dave")
    asked = post_form(
        web, live.url + "projects/new/", {"project_id": "BRAIN", "name": "Brain", "reason": "our study"}
    )
    assert asked.ok and "Project BRAIN is requested" in asked.text
    request = ProjectRequest.objects.get()
    assert (request.requested_id, request.requested_by, request.status) == ("BRAIN", dave, "pending")
    assert not Project.objects.exists()
    # Nobody but an admin decides.
    assert web.get(live.url + "projects/requests/", timeout=BOUND).status_code == 403
    assert (
        web.post(
            live.url + "projects/requests/", data={"request": request.pk, "action": "approve"}
        ).status_code
        == 403
    )

    admin = browser_sign_in(live.url, "root")
    approved = post_form(admin, live.url + "projects/requests/", {"request": request.pk, "action": "approve"})
    assert approved.ok and "Project BRAIN created; dave is its owner." in approved.text
    project = Project.objects.get()
    assert permissions.role_of(dave, project) == "owner"
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "archive.project.requested",
        "archive.project.created",
        "archive.project.request_approved",
    }


def test_an_alias_naming_data_waiting_in_unassigned_needs_an_admin(start_live, project_a, alice):
    live = start_live()
    # A scanner sends a study for a project nobody created yet: it waits in Unassigned.
    send_datasets(live.dicom_port, make_study(1, 2, study_description="BRAIN_MR"))
    wait_for(
        lambda: PrearchiveSession.objects.filter(project__isnull=True, file_count=2).exists(),
        what="the study in Unassigned",
    )
    web = browser_sign_in(live.url, "alice")
    answer = post_form(
        web,
        live.url + "projects/A/settings/aliases/",
        {"alias": "BRAIN_MR"},
        page=live.url + "projects/A/settings/",
    )
    assert (
        answer.status_code == 403 and "names data that is waiting in the Unassigned prearchive" in answer.text
    )
    assert not ProjectAlias.objects.exists()
    # Data keeps going where it went: Unassigned, for the site admins to place.
    assert PrearchiveSession.objects.get().project_id is None
