"""factory_boy factories for rows the tests need; files on disk come from the services themselves."""

import factory
from django.contrib.auth import get_user_model

from archive.models import ImageSession, Subject
from archive.services.accession import next_accession_id
from archive.services.subjects import create_subject
from xnatlite import permissions, projects
from xnatlite.models import Project

# The tests' own system actor, for data a test needs as a given (it may do anything, like an admin's
# command): services check it through xnatlite/permissions.py like any actor.
TESTS = permissions.SystemActor("tests", frozenset(permissions.ACTIONS))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_project(project_id: str, owner, **fields) -> Project:
    """A project made through the service, with its role groups, for its owner: as a site admin makes
    one for someone (XNATLITE_PROJECT_CREATION=admins, the default) or approves their request."""
    return projects.create_project(
        project_id, by=TESTS, owner=owner, name=fields.pop("name", f"Project {project_id}"), **fields
    )


def make_subject(project: Project, label: str) -> Subject:
    return create_subject(project, label, by=TESTS)


class ImageSessionFactory(factory.django.DjangoModelFactory):
    """Session rows for listing and permission tests (archiving makes real ones with files)."""

    class Meta:
        model = ImageSession

    subject = factory.LazyAttribute(
        lambda o: make_subject(o.project, f"S{ImageSession.objects.count() + 1:04d}")
    )
    label = factory.Sequence(lambda n: f"E{n:05d}")
    accession_id = factory.LazyFunction(lambda: next_accession_id("E"))
    xsi_type = "xnat:mrSessionData"
    modality = "MR"


DICOM_FILES = ["MR_small.dcm", "CT_small.dcm"]


def make_session_with_files(project: Project) -> dict:
    """{project} / subject S1 / session MR1 with scan 1 (type T1w; DICOM resource with two files bundled
    with pydicom) and a session resource NOTES holding notes.txt, made through archive/content.py."""
    import io

    from archive.services.resources import create_resource, store_file
    from archive.services.scans import create_scan
    from archive.services.sessions import create_session
    from tests.dicomgen import pydicom_test_file  # tests/conftest.py imports this module

    subject = make_subject(project, "S1")
    session = create_session(subject, "MR1", by=TESTS, xsi_type="xnat:mrSessionData")
    scan = create_scan(session, "1", by=TESTS, xsi_type="xnat:mrScanData", type="T1w")
    dicom = create_resource(scan, "DICOM", by=TESTS, format="DICOM", content="RAW")
    for name in DICOM_FILES:
        with open(pydicom_test_file(name), "rb") as src:
            store_file(dicom, name, src, by=TESTS, format="DICOM")
    notes = create_resource(session, "NOTES", by=TESTS)
    store_file(notes, "notes.txt", io.BytesIO(b"hello\n"), by=TESTS)
    return {"subject": subject, "session": session, "scan": scan, "dicom": dicom, "notes": notes}
