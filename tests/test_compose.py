"""docker-compose.yml stays true: the commands it runs exist, the variables it sets are ones the
settings read, the secret key outlives a restart, the broker keeps its queue on disk, and a stopped
worker has time to finish an archive (issue 16)."""

import re
from pathlib import Path

import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS = (ROOT / "xnatlite" / "settings.py").read_text()
XNATLITE_SERVICES = [
    name for name, service in COMPOSE["services"].items() if service.get("image") == "xnatlite"
]


def test_every_xnatlite_service_runs_a_command_that_exists():
    assert set(XNATLITE_SERVICES) == {"migrate", "web", "worker", "receiver", "beat"}
    commands = get_commands()
    for name in XNATLITE_SERVICES:
        command = " ".join(COMPOSE["services"][name]["command"])
        for used in re.findall(r"manage\.py (\w+)", command):
            assert used in commands, (name, used)
        if "celery" in command:
            assert "-A xnatlite" in command
        if "gunicorn" in command:
            assert "xnatlite.wsgi" in command


def test_every_variable_set_is_read_by_the_settings():
    for name in XNATLITE_SERVICES:
        for variable in COMPOSE["services"][name]["environment"]:
            read_as = variable.removesuffix("_FILE")  # SECRET_KEY_FILE is read through env("SECRET_KEY")
            assert f'"{read_as}"' in SETTINGS or variable in ("DATABASE_URL", "CELERY_BROKER_URL"), variable


def test_the_secret_key_is_made_once_and_kept_in_a_volume():
    for name in XNATLITE_SERVICES:
        service = COMPOSE["services"][name]
        assert service["environment"]["SECRET_KEY_FILE"] == "/secrets/secret_key"
        assert "secrets:/secrets" in service["volumes"]
        assert "SECRET_KEY" not in service["environment"]
    assert "test -s /secrets/secret_key ||" in " ".join(COMPOSE["services"]["migrate"]["entrypoint"])
    assert "secrets" in COMPOSE["volumes"]


def test_the_broker_keeps_its_queue_and_workers_may_finish_an_archive():
    redis = COMPOSE["services"]["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    grace = COMPOSE["services"]["worker"]["stop_grace_period"]
    assert re.fullmatch(r"\d+m", grace) and int(grace[:-1]) >= 10
