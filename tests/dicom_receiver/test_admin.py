"""Receivers and site routing rules in Django admin: syntax checked on save, site admins only."""

from dicom_receiver.models import Receiver
from prearchive.models import SiteRoutingRules


def receiver_form(**fields):
    return {
        "ae_title": "PROJA",
        "port": "11112",
        "enabled": "on",
        "description": "",
        "anonymization_enabled": "on",
        "project_routing": "",
        "subject_routing": "",
        "session_routing": "",
        "whitelist": "",
        **fields,
    }


def test_a_bad_rule_or_whitelist_is_refused_with_a_message(client, root):
    client.force_login(root)
    response = client.post(
        "/admin/dicom_receiver/receiver/add/", receiver_form(project_routing="(0008,1030):(oops")
    )
    assert response.status_code == 200
    assert "line 1 has a bad regular expression" in response.content.decode()
    response = client.post("/admin/dicom_receiver/receiver/add/", receiver_form(whitelist="PACS@nowhere"))
    assert "is not an IP address or network" in response.content.decode()
    response = client.post("/admin/dicom_receiver/receiver/add/", receiver_form(ae_title="A\\B"))
    assert "printable ASCII" in response.content.decode()
    assert not Receiver.objects.exists()


def test_a_good_receiver_and_site_rules_are_saved(client, root):
    client.force_login(root)
    response = client.post(
        "/admin/dicom_receiver/receiver/add/",
        receiver_form(project_routing=r"(0008,1030):Project:\s*(\w+)", whitelist="SCANNER1\n10.0.0.0/8"),
    )
    assert response.status_code == 302
    receiver = Receiver.objects.get()
    assert (receiver.ae_title, receiver.port, len(receiver.whitelist_entries)) == ("PROJA", 11112, 2)
    response = client.post(
        "/admin/prearchive/siteroutingrules/add/",
        {
            "project_rules": r"(0010,4000):P=(\w+)",
            "project_rules_enabled": "on",
            "subject_rules": "",
            "session_rules": "",
            "aa_rules": "",
        },
    )
    assert response.status_code == 302
    assert SiteRoutingRules.load().project_rules == r"(0010,4000):P=(\w+)"


def test_members_cannot_edit_receivers(client, alice):
    client.force_login(alice)
    response = client.get("/admin/dicom_receiver/receiver/add/")
    assert response.status_code == 302  # to the admin login: not staff
    assert not Receiver.objects.exists()
