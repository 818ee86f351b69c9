"""The shared cast: alice owns project A, bob is a member, carol a collaborator, dave a stranger with
his own project D, and root a site admin. Every test gets its own data folder."""

from pathlib import Path

import pydicom.data
import pytest

from archive import services
from tests.factories import UserFactory, make_project

PYDICOM_TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


def pydicom_test_file(name: str) -> Path:
    """A file bundled with pydicom (never downloaded: there is no internet in CI)."""
    path = PYDICOM_TEST_FILES / name
    assert path.exists(), f"{name} is not bundled with pydicom"
    return path


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path) -> Path:
    """Each test writes under its own data root."""
    settings.DATA_ROOT = tmp_path / "data"
    settings.DATA_ROOT.mkdir()
    return settings.DATA_ROOT


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", first_name="Alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", first_name="Bob")


@pytest.fixture
def carol(db):
    return UserFactory(username="carol", first_name="Carol")


@pytest.fixture
def dave(db):
    return UserFactory(username="dave", first_name="Dave")


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def project_a(alice, bob, carol):
    project = make_project("A", alice)
    services.set_project_role(project, bob, "member", by=alice)
    services.set_project_role(project, carol, "collaborator", by=alice)
    return project


@pytest.fixture
def project_d(dave):
    return make_project("D", dave)


@pytest.fixture
def cast(project_a, project_d, alice, bob, carol, dave, root):
    """Everyone at once, for tests that walk the roles."""
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "root": root}
