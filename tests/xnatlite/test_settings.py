"""Settings from the environment (xnatlite/settings.py): read there and nowhere else, booleans as Django
users write them, secrets from NAME_FILE, and every variable once in the README's configuration table."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from xnatlite import settings as settings_module
from xnatlite.management.commands import serve

ROOT = Path(__file__).resolve().parents[2]
ACCEPTED = "1/0, yes/no, true/false, on/off"


def load_settings(monkeypatch, **variables: str):
    """A fresh copy of the settings module, imported with these environment variables set."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("settings_under_test", settings_module.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("value", ["1", "yes", "true", "on", "TRUE", "Yes", " on ", "oN", "True\n"])
def test_a_boolean_accepts_what_django_users_write_for_true(monkeypatch, value):
    loaded = load_settings(monkeypatch, DEBUG=value, XNATLITE_PROJECT_GROUPS=value)
    assert loaded.DEBUG is True
    assert loaded.PROJECT_GROUPS is True


@pytest.mark.parametrize("value", ["0", "no", "false", "off", "FALSE", "No", " 0 ", "OFF"])
def test_a_boolean_accepts_what_django_users_write_for_false(monkeypatch, value):
    loaded = load_settings(monkeypatch, DEBUG=value, XNATLITE_PROJECT_GROUPS=value)
    assert loaded.DEBUG is False
    assert loaded.PROJECT_GROUPS is False


@pytest.mark.parametrize("value", ["", "2", "y", "n", "maybe", "tru e", "enabled", "-1"])
def test_a_boolean_refuses_anything_else_naming_the_variable_and_the_accepted_values(monkeypatch, value):
    with pytest.raises(ImproperlyConfigured) as refused:
        load_settings(monkeypatch, XNATLITE_PROJECT_GROUPS=value)
    assert "XNATLITE_PROJECT_GROUPS" in str(refused.value)
    assert ACCEPTED in str(refused.value)


def test_a_boolean_left_unset_takes_its_default(monkeypatch):
    monkeypatch.delenv("DEBUG", raising=False)
    monkeypatch.delenv("XNATLITE_PROJECT_GROUPS", raising=False)
    loaded = load_settings(monkeypatch)
    assert (loaded.DEBUG, loaded.PROJECT_GROUPS) == (False, False)


def test_serve_and_createadmin_variables_are_settings(monkeypatch, tmp_path):
    secret = tmp_path / "admin-password"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("XNATLITE_ADMIN_PASSWORD", raising=False)
    loaded = load_settings(
        monkeypatch,
        XNATLITE_HTTP_THREADS="3",
        XNATLITE_ADMIN_USERNAME="boss",
        XNATLITE_ADMIN_PASSWORD_FILE=str(secret),
        XNATLITE_ADMIN_EMAIL="boss@example.org",
    )
    assert loaded.HTTP_THREADS == 3
    assert (loaded.ADMIN_USERNAME, loaded.ADMIN_PASSWORD, loaded.ADMIN_EMAIL) == (
        "boss",
        "from-a-file",
        "boss@example.org",
    )
    monkeypatch.setenv("XNATLITE_HTTP_THREADS", "eight")
    with pytest.raises(ImproperlyConfigured, match="XNATLITE_HTTP_THREADS must be a whole number"):
        load_settings(monkeypatch)


def test_serve_takes_its_threads_from_the_settings(settings, monkeypatch):
    settings.HTTP_THREADS = 3
    monkeypatch.setenv("XNATLITE_HTTP_THREADS", "5")  # read once, by settings.py, not by the command
    parser = serve.Command().create_parser("manage.py", "serve")
    assert parser.parse_args([]).threads == 3


def test_createadmin_takes_the_admin_from_the_settings(db, settings, monkeypatch):
    monkeypatch.setenv("XNATLITE_ADMIN_USERNAME", "from-the-environment")
    monkeypatch.setenv("XNATLITE_ADMIN_PASSWORD", "s3cret-Pass")
    settings.ADMIN_USERNAME = settings.ADMIN_PASSWORD = ""
    with pytest.raises(CommandError, match="XNATLITE_ADMIN_USERNAME"):
        call_command("createadmin")
    assert not get_user_model().objects.exists()

    settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD, settings.ADMIN_EMAIL = "boss", "s3cret-Pass", "b@x.org"
    call_command("createadmin")
    admin = get_user_model().objects.get()
    assert (admin.username, admin.email, admin.is_superuser, admin.is_staff) == (
        "boss",
        "b@x.org",
        True,
        True,
    )
    assert admin.check_password("s3cret-Pass")


def run_manage(**variables: str) -> subprocess.CompletedProcess:
    """`manage.py shell` printing two booleans, in a process of its own with these variables."""
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "settings-test",
        "XNATLITE_DATA_ROOT": "/nonexistent/never-written",
        **variables,
    }
    code = "from django.conf import settings; print(settings.DEBUG, settings.PROJECT_GROUPS)"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_debug_0_starts_the_site_and_nonsense_stops_it():
    """Regression (issue 13): `DEBUG=0` was refused at start-up; only `true` and `false` were accepted."""
    started = run_manage(DEBUG="0", XNATLITE_PROJECT_GROUPS="Yes")
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines()[-1] == "False True"

    refused = run_manage(DEBUG="nope")
    assert refused.returncode != 0
    assert f"DEBUG must be one of {ACCEPTED} (in any case), not 'nope'" in refused.stderr


# --- the environment is read in settings.py only -------------------------------------------------------
# Besides settings.py: the entry points name the settings module, and the upload tool is a client of its
# own, run on users' machines without Django (README "The upload tool").
ENVIRONMENT_ALLOWED = {"xnatlite/settings.py", "uploadtool/cli.py"}
SKIPPED_FOLDERS = {"tests", "bench", "migrations", "var", "node_modules", "static", "templates"}
SETTINGS_MODULE_DEFAULT = 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xnatlite.settings")'


def environment_reads(path: Path) -> list[str]:
    """Each place the module reads os.environ / os.getenv / os.environb, as `line: source`."""
    source = path.read_text()
    found = []
    for node in ast.walk(ast.parse(source)):
        named = (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "environb", "getenv", "getenvb")
            or isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and {a.name for a in node.names} & {"environ", "environb", "getenv", "getenvb"}
        )
        if named:
            found.append(f"{node.lineno}: {ast.get_source_segment(source, node)}")
    return found


def product_sources() -> list[Path]:
    """The project's Python files, without the tests, the benchmarks, migrations and the virtualenv."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [s for s in subfolders if s not in SKIPPED_FOLDERS and not s.startswith(".")]
        found += [Path(folder) / name for name in files if name.endswith(".py")]
    return found


def test_only_settings_reads_the_environment():
    sources = product_sources()
    assert ROOT / "xnatlite" / "management" / "commands" / "serve.py" in sources
    offenders = {}
    for path in sources:
        relative = str(path.relative_to(ROOT))
        if relative in ENVIRONMENT_ALLOWED:
            continue
        lines = path.read_text().splitlines()
        reads = [
            read
            for read in environment_reads(path)
            if lines[int(read.split(":")[0]) - 1].strip() != SETTINGS_MODULE_DEFAULT
        ]
        if reads:
            offenders[relative] = reads
    assert offenders == {}


def test_the_check_finds_an_environment_read(tmp_path):
    module = tmp_path / "reader.py"
    module.write_text("import os\nfrom os import getenv\nTHREADS = int(os.environ.get('X', '8'))\n")
    assert [read.split(":")[0] for read in environment_reads(module)] == ["2", "3"]


# --- every variable once in the README -----------------------------------------------------------------
def settings_variables() -> set[str]:
    """The variables settings.py reads: the first argument of each env/env_bool/env_int call."""
    tree = ast.parse(Path(settings_module.__file__).read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("env", "env_bool", "env_int")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_variable_appears_once_in_the_readme_configuration_table():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    in_table = [name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cell)]
    variables = settings_variables()
    assert len(variables) > 25  # the parse found them
    assert sorted(name for name in in_table if in_table.count(name) > 1) == []
    assert variables - set(in_table) == set()  # a variable the table lacks
    assert set(in_table) - variables == set()  # a row naming a variable nothing reads
