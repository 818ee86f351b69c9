"""factory_boy factories for rows the tests need; files on disk come from the services themselves."""

import factory
from django.contrib.auth import get_user_model

from archive import services
from archive.models import ImageSession, Subject
from xnatlite import projects
from xnatlite.models import Project


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
    """A project made the way users make them: through the service, with its role groups."""
    return projects.create_project(
        project_id, by=owner, name=fields.pop("name", f"Project {project_id}"), **fields
    )


def make_subject(project: Project, label: str) -> Subject:
    return services.create_subject(project, label, by="tests")


class ImageSessionFactory(factory.django.DjangoModelFactory):
    """Session rows for listing and permission tests (archiving makes real ones with files)."""

    class Meta:
        model = ImageSession

    subject = factory.LazyAttribute(
        lambda o: make_subject(o.project, f"S{ImageSession.objects.count() + 1:04d}")
    )
    label = factory.Sequence(lambda n: f"E{n:05d}")
    accession_id = factory.LazyFunction(lambda: services.next_accession_id("E"))
    xsi_type = "xnat:mrSessionData"
    modality = "MR"


DICOM_FILES = ["MR_small.dcm", "CT_small.dcm"]


def make_session_with_files(project: Project) -> dict:
    """{project} / subject S1 / session MR1 with scan 1 (type T1w; DICOM resource with two files bundled
    with pydicom) and a session resource NOTES holding notes.txt, made through archive/content.py."""
    import io

    from archive import content
    from tests.conftest import pydicom_test_file  # tests/conftest.py imports this module

    subject = make_subject(project, "S1")
    session = content.create_session(subject, "MR1", by="tests", xsi_type="xnat:mrSessionData")
    scan = content.create_scan(session, "1", by="tests", xsi_type="xnat:mrScanData", type="T1w")
    dicom = content.create_resource(scan, "DICOM", by="tests", format="DICOM", content="RAW")
    for name in DICOM_FILES:
        with open(pydicom_test_file(name), "rb") as src:
            content.store_file(dicom, name, src, by="tests", format="DICOM")
    notes = content.create_resource(session, "NOTES", by="tests")
    content.store_file(notes, "notes.txt", io.BytesIO(b"hello\n"), by="tests")
    return {"subject": subject, "session": session, "scan": scan, "dicom": dicom, "notes": notes}
