"""The container image holds what the project needs: the files the Dockerfile copies (minus
.dockerignore), installed into a fresh virtual environment as `pip install .` does in the image,
pass `collectstatic` and `check --deploy`, as the image build runs them. An app that the image
would miss fails here, before anyone builds the image (issue 16: xnatapi was missing from it).

No container engine runs here and base images cannot be pulled, so the image itself is not built in
the tests; this reproduces its steps with the same files and the same commands."""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether Docker's build context leaves this path out (the path or one of its folders matches)."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        for candidate in candidates:
            if fnmatch.fnmatch(candidate, pattern) or fnmatch.fnmatch(candidate, pattern.removeprefix("**/")):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatch(candidate.rsplit("/", 1)[-1], pattern[3:]):
                return True
    return False


def build_context() -> list[str]:
    """The files `docker build` would send: those of the repository, less what .dockerignore names."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [f for f in files if (ROOT / f).is_file() and not ignored(f, patterns)]


def copy_as_the_dockerfile_does(target: Path, leave_out: str = "") -> None:
    """Follow the Dockerfile's COPY instructions (sources relative to the build context); `leave_out`
    a folder, as a Dockerfile that forgot an app would."""
    context = [name for name in build_context() if not (leave_out and name.startswith(leave_out + "/"))]
    copies = [
        shlex.split(line)[1:]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert copies, "the Dockerfile copies nothing"
    for *sources, _destination in copies:
        for source in sources:
            prefix = "" if source == "." else source.rstrip("/") + "/"
            for name in context:
                if name == source or name.startswith(prefix):
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / name, target / name)


def build(base: Path, leave_out: str = "") -> tuple[Path, Path]:
    """(/app as the image holds it, the python of a fresh environment with `pip install .` done there)."""
    app = base / "app"
    app.mkdir()
    copy_as_the_dockerfile_does(app, leave_out)
    venv.create(base / "venv", with_pip=True)
    python = base / "venv" / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
        cwd=app,
        check=True,
        timeout=1800,
    )
    return app, python


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> tuple[Path, Path]:
    return build(tmp_path_factory.mktemp("image"))


def manage(image: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess:
    """`manage.py` in the image's folder with the image's environment: nothing of this test run's."""
    app, python = image
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(app.parent),
        "SECRET_KEY": "build-only",
        "XNATLITE_STATIC_ROOT": str(app.parent / "staticfiles"),
        "XNATLITE_DATA_ROOT": str(app.parent / "data"),
    }
    return subprocess.run(
        [python, "manage.py", *args], cwd=app, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_image_holds_every_installed_app_and_its_static_files(image):
    collected = manage(image, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-3000:]
    checked = manage(image, "check", "--deploy", "--fail-level", "ERROR")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-3000:]
    app, _ = image
    assert (app.parent / "staticfiles" / "xnatlite.css").is_file()
    assert not (app / "tests").exists() and not (app / ".venv").exists()  # .dockerignore applies


def test_an_app_the_image_would_miss_fails_the_check(tmp_path):
    without = build(tmp_path, leave_out="xnatapi")
    checked = manage(without, "check", "--deploy", "--fail-level", "ERROR")
    assert checked.returncode != 0 and "xnatapi" in checked.stderr


def test_the_dockerignore_matcher_follows_dockers_patterns():
    patterns = ["**/__pycache__", "**/*.pyc", ".venv", "tests"]
    assert ignored("archive/__pycache__/x.cpython-311.pyc", patterns)
    assert ignored("a/b/c.pyc", patterns)
    assert ignored(".venv/bin/python", patterns)
    assert ignored("tests/conftest.py", patterns)
    assert not ignored("archive/models.py", patterns)
    assert not ignored("xnatlite/tests_helper.py", patterns)
