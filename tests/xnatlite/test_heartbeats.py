"""Signs of life and the site's health (issue 16): /health for load balancers, the admin status page,
and the sweep run by a receiver when nobody has run it for too long."""

from datetime import timedelta

from django.utils import timezone

from xnatlite import heartbeats
from xnatlite.models import Heartbeat


def test_health_lists_what_answered_and_when(client, db):
    heartbeats.beat("receiver", "host1:10", ports=[8104])
    heartbeats.beat(heartbeats.SWEEP, "host1:11")
    Heartbeat.objects.filter(name="host1:11").update(seen_at=timezone.now() - timedelta(hours=2))
    response = client.get("/health")
    assert response.status_code == 200
    found = response.json()
    assert found["ok"] and found["database"]["ok"] and found["broker"]["ok"]
    assert found["roles"]["receiver"]["alive"] == 1
    assert found["roles"]["receiver"]["processes"][0]["name"] == "host1:10"
    assert found["roles"]["sweep"]["alive"] == 0  # two hours silent: Celery beat is down
    assert "A" not in response.content.decode()  # nothing of any project


def test_the_status_page_is_for_site_admins(client, db, root, alice):
    heartbeats.beat("spool-worker", "host1:12")
    client.force_login(alice)
    assert client.get("/admin/status/").status_code in (302, 403)
    client.force_login(root)
    page = client.get("/admin/status/")
    assert page.status_code == 200 and b"spool-worker" in page.content and b"host1:12" in page.content
    assert b"Site status" in client.get("/admin/").content


def test_an_overdue_sweep_is_claimed_by_one_process_per_period(db):
    now = timezone.now()
    heartbeats.beat(heartbeats.SWEEP)
    assert not heartbeats.claim_overdue(heartbeats.SWEEP, 60, now=now)  # it ran just now
    later = now + timedelta(seconds=120)
    assert heartbeats.claim_overdue(heartbeats.SWEEP, 60, now=later)
    assert not heartbeats.claim_overdue(heartbeats.SWEEP, 60, now=later)  # claimed by the first
    assert heartbeats.claim_overdue(heartbeats.SWEEP, 60, now=later + timedelta(seconds=61))
