"""docker-compose.yml stays true: the commands it runs exist, the variables it sets are ones the
settings read, the secret key outlives a restart, the broker keeps its queue on disk, and a stopped
worker has time to finish an archive (issue 16); gunicorn is reached through nginx only, whose limits are
those `manage.py serve` applies itself (issue 14 items 2 and 6)."""

import re
from pathlib import Path

import yaml
from django.conf import settings
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


def nginx() -> tuple[dict, str]:
    proxy = COMPOSE["services"]["proxy"]
    (mount,) = proxy["volumes"]
    source, target, mode = mount.split(":")
    assert target == "/etc/nginx/nginx.conf" and mode == "ro"
    return proxy, (ROOT / source).read_text()


def directive(config: str, name: str) -> str:
    (value,) = re.findall(rf"^\s*{name} ([^;\n]+);", config, re.MULTILINE)
    return value


def test_gunicorn_is_reached_through_nginx_only():
    proxy, config = nginx()
    web = COMPOSE["services"]["web"]
    assert proxy["image"].startswith("nginx:")
    assert "ports" not in web  # a slow client never meets a gunicorn worker
    bind = web["command"][web["command"].index("--bind") + 1]
    assert directive(config, "server") == f"web:{bind.rsplit(':', 1)[1]}"
    (published,) = proxy["ports"]
    assert published.split(":")[1] == directive(config, "listen")
    assert web["environment"]["XNATLITE_TRUSTED_PROXIES"] == "1"  # nginx appends to X-Forwarded-For
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in config
    gunicorn_timeout = int(web["command"][web["command"].index("--timeout") + 1])
    assert int(directive(config, "proxy_read_timeout").removesuffix("s")) >= gunicorn_timeout


def test_nginx_limits_are_those_of_serve():
    _, config = nginx()
    assert directive(config, "client_header_timeout") == f"{settings.HTTP_HEADER_SECONDS}s"
    assert directive(config, "client_body_timeout") == f"{settings.HTTP_IDLE_SECONDS}s"
    assert directive(config, "send_timeout") == f"{settings.HTTP_IDLE_SECONDS}s"
    assert directive(config, "proxy_max_temp_file_size") == f"{settings.HTTP_SPOOL_BYTES // 1024**2}m"
    assert (
        int(directive(config, "client_max_body_size").removesuffix("g")) * 1024**3 > settings.UPLOAD_MAX_BYTES
    )
    # The map that refuses a body before sign-in: credentials, transfer coding and length, joined by ":".
    patterns = [re.compile(p) for p in re.findall(r'^\s*"~([^"]+)" 1;', config, re.MULTILINE)]

    def refused(key: str) -> bool:
        return any(p.search(key) for p in patterns)

    limit = settings.HTTP_ANONYMOUS_BODY_BYTES
    for length in (0, 1, 9999, limit - 1, limit):
        assert not refused(f"::{length}"), length
    for length in (limit + 1, limit + 2, 65540, 65600, 66000, 70000, 99999, 100000, 4 * 1024**3):
        assert refused(f"::{length}"), length
    assert refused(":chunked:")
    assert not refused("Basic YWxpY2U6cHc=:chunked:99999999")
    assert not refused("0123abcd::99999999")  # a session cookie
    assert not refused("::")  # no body
