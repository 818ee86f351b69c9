"""kill -9 of each role of the multi-process deployment at a random moment during a push of 20
studies into a project that archives automatically, and a broker lost with archives queued (issue 16).

What must hold afterwards, once the killed process is back: every instance the receiver acknowledged is
in the archive exactly once (a sender resends what was not acknowledged, as a PACS does); no session
is left waiting in the prearchive (the sweep finds work whose process or task was lost); no file in the
archive without its row, none in the spool; no process of the deployment left behind.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.conf import settings
from pydicom.dataset import Dataset

from archive.models import File, ImageSession
from prearchive import intake
from prearchive.models import PrearchiveSession, Status
from tests.dicomgen import echo, make_study
from tests.faults.conftest import Deployment, Role
from tests.waiting import TIMEOUT, wait_for
from xnatlite.models import PrearchiveCode

STUDIES = 20
INSTANCES = 3  # per study, in one series
ARCHIVED_BOUND = 4 * TIMEOUT  # a safety net for the whole recovery on a loaded machine, not an expectation
ATTEMPTS = 10  # per study: associations tried before the sender gives up


def make_push() -> list[list[Dataset]]:
    return [
        make_study(
            n_series=1,
            n_instances=INSTANCES,
            rows=16,
            cols=16,
            study_description="A",
            patient_name=f"FAULT{i:02d}",
            patient_id=f"FAULT{i:02d}_MR",
        )
        for i in range(STUDIES)
    ]


class Sender:
    """A PACS pushing studies one association each: records what was acknowledged, resends what was
    not once the receiver answers again."""

    def __init__(self, port: int):
        self.port = port
        self.acknowledged: list[str] = []

    def send(self, study: list[Dataset]) -> None:
        from pynetdicom import AE

        waiting = list(study)
        for _ in range(ATTEMPTS):
            if not waiting:
                return
            ae = AE(ae_title="FAULTSCU")
            ae.add_requested_context(waiting[0].SOPClassUID, waiting[0].file_meta.TransferSyntaxUID)
            assoc = ae.associate("127.0.0.1", self.port, ae_title="XNATLITE")
            if assoc.is_established:
                try:
                    while waiting:
                        status = assoc.send_c_store(waiting[0])
                        if not status or int(status.Status) != 0:
                            break
                        self.acknowledged.append(waiting.pop(0).SOPInstanceUID)
                finally:
                    if assoc.is_established:
                        assoc.release()
            if waiting:  # refused or cut: wait until the receiver answers again, then resend
                wait_for(lambda: echo(self.port) == 0, what="the receiver to answer again")
        assert not waiting, f"{len(waiting)} instances never acknowledged in {ATTEMPTS} associations"


def archived_or_waiting() -> int:
    """Sessions of project A on their way into the archive or in it."""
    on_the_way = PrearchiveSession.objects.filter(
        project_id="A", status__in=[Status.QUEUED_ARCHIVING, Status.ARCHIVING]
    ).count()
    return on_the_way + ImageSession.objects.filter(project_id="A").count()


def kill_and_restart(role: Role, trigger: Callable[[], bool], done: threading.Event, errors: list) -> None:
    try:
        wait_for(trigger, what=f"the moment to kill the {role.name}", timeout=ARCHIVED_BOUND)
        role.kill()
        role.start()
    except BaseException as exc:  # reported by the test's thread
        errors.append(exc)
    finally:
        done.set()


def check_everything_archived_once(sender: Sender, deployment: Deployment) -> None:
    def all_archived() -> bool:
        left = PrearchiveSession.objects.filter(project_id="A").exclude(status=Status.RECEIVING)
        stuck = [s for s in left if s.status in (Status.ERROR, Status.CONFLICT)]
        assert not stuck, [(s.pk, s.status, s.status_reason) for s in stuck]
        return ImageSession.objects.filter(project_id="A").count() == STUDIES and not left.exists()

    try:
        wait_for(all_archived, what=f"all {STUDIES} studies archived", timeout=ARCHIVED_BOUND, poll=0.2)
    except AssertionError as exc:
        left = PrearchiveSession.objects.filter(project_id="A").values_list("pk", "status", "status_reason")
        logs = "\n".join(f"--- {r.log.name}\n{r.log.read_text()[-3000:]}" for r in deployment.roles())
        raise AssertionError(f"{exc}\nleft in the prearchive: {list(left)}\n{logs}") from None
    wait_for(
        lambda: not PrearchiveSession.objects.filter(project_id="A").exists(),
        what="the prearchive of A to empty",
        timeout=ARCHIVED_BOUND,
        poll=0.2,
    )
    # The site script gives instances new UIDs (the same new UID for the same old one): count them, and
    # find each sent study's instances in the session named after it.
    assert len(set(sender.acknowledged)) == STUDIES * INSTANCES
    files = list(File.objects.exclude(sop_instance_uid="").select_related("resource__scan__session"))
    stored = Counter(f.sop_instance_uid for f in files)
    assert set(stored.values()) == {1}, f"stored twice: {[u for u, n in stored.items() if n > 1]}"
    assert len(stored) == STUDIES * INSTANCES
    per_session = Counter(f.resource.scan.session.label for f in files)
    assert per_session == {f"FAULT{i:02d}_MR": INSTANCES for i in range(STUDIES)}
    on_disk = {p for p in (settings.DATA_ROOT / "archive" / "A").rglob("*.dcm")}
    assert on_disk == {f.absolute_path for f in files}, (
        "files in the archive without their rows (or rows without files)"
    )
    assert not list(intake.spool_root().rglob("*.dcm")), "instances left in the spool"


@pytest.mark.parametrize("victim", ["receiver", "builder", "worker"])
def test_kill_9_of_a_role_during_a_push_loses_nothing_and_stores_nothing_twice(
    victim, deployment, project_a, rng
):
    project_a.prearchive_code = PrearchiveCode.AUTO_ARCHIVE
    project_a.save()
    running = deployment()
    role = {"receiver": running.receiver, "builder": running.builder, "worker": running.worker}[victim]
    push = make_push()
    sender = Sender(running.port)
    if victim == "receiver":  # mid-push, after a random number of acknowledged instances
        moment = rng.randrange(1, STUDIES * INSTANCES - 1)
        trigger = lambda: len(sender.acknowledged) >= moment  # noqa: E731
    else:  # mid-archiving, after a random number of sessions began it
        moment = rng.randrange(1, STUDIES // 2)
        trigger = lambda: archived_or_waiting() >= moment  # noqa: E731
    print(f"killing the {victim} at {moment}")
    done, errors = threading.Event(), []
    threading.Thread(target=kill_and_restart, args=(role, trigger, done, errors), daemon=True).start()
    for study in push:
        sender.send(study)
    assert done.wait(ARCHIVED_BOUND), f"the {victim} was never killed"
    if errors:
        raise errors[0]
    check_everything_archived_once(sender, running)


def test_a_broker_lost_with_archives_queued_loses_nothing(deployment, private_redis, project_a, rng):
    """The broker (a redis of this test's own, without persistence) is killed while sessions wait in its
    queue and started again empty: the sweep queues their archives again."""
    project_a.prearchive_code = PrearchiveCode.AUTO_ARCHIVE
    project_a.save()
    broker = private_redis()
    running = deployment(broker_url=broker)
    running.worker.kill()  # archives pile up in the broker with nobody to take them
    sender = Sender(running.port)
    for study in make_push():
        sender.send(study)
    moment = rng.randrange(1, STUDIES)
    wait_for(
        lambda: PrearchiveSession.objects.filter(status=Status.QUEUED_ARCHIVING).count() >= moment,
        what=f"{moment} sessions queued for archiving",
        timeout=ARCHIVED_BOUND,
        poll=0.2,
    )
    private_redis.kill()  # type: ignore[attr-defined]
    private_redis()
    running.worker.start()
    check_everything_archived_once(sender, running)
