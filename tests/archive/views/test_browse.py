"""The project, subject, session and scan pages over real requests, for each role."""

import datetime
import io
import zipfile

import pytest
from django.urls import reverse
from PIL import Image

from archive.models import File, ImageSession, Resource, Scan, Subject
from tests.builders import add_dicom_scan
from tests.factories import ImageSessionFactory, make_project, make_subject
from xnatlite import layout, projects
from xnatlite.models import AuditEvent, Project


def session_url(name, session, *extra):
    return reverse(name, args=[session.project_id, session.label, *extra])


# --- the project page ---------------------------------------------------------------------------------
@pytest.fixture
def listed(project_a):
    """Three sessions of two subjects with different dates and modalities."""
    s1, s2 = make_subject(project_a, "ALPHA"), make_subject(project_a, "BRAVO")
    rows = [
        ImageSessionFactory(
            project=project_a, subject=s1, label="MR_1", modality="MR", date=datetime.date(2024, 1, 5)
        ),
        ImageSessionFactory(
            project=project_a, subject=s1, label="CT_1", modality="CT", date=datetime.date(2024, 3, 1)
        ),
        ImageSessionFactory(
            project=project_a, subject=s2, label="MR_2", modality="MR", date=datetime.date(2023, 7, 9)
        ),
    ]
    return {s.label: s for s in rows}


def labels(response):
    return [s.label for s in response.context["page"].object_list]


def test_project_page_lists_sessions_newest_first_with_subject_and_scan_count(as_user, listed, alice):
    Scan.objects.create(session=listed["CT_1"], scan_id="1")
    Scan.objects.create(session=listed["CT_1"], scan_id="2")
    response = as_user(alice).get(reverse("project-detail", args=["A"]))
    assert response.status_code == 200
    assert labels(response) == ["CT_1", "MR_1", "MR_2"]
    assert response.context["page"].object_list[0].scan_count == 2
    html = response.content.decode()
    assert reverse("session-detail", args=["A", "CT_1"]) in html
    assert reverse("subject-detail", args=["A", "BRAVO"]) in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "mr_"}, ["MR_1", "MR_2"]),
        ({"q": "bravo"}, ["MR_2"]),
        ({"modality": "CT"}, ["CT_1"]),
        ({"date_from": "2024-01-01"}, ["CT_1", "MR_1"]),
        ({"date_from": "2024-01-01", "date_to": "2024-02-01"}, ["MR_1"]),
        ({"sort": "label"}, ["CT_1", "MR_1", "MR_2"]),
        ({"sort": "-label"}, ["MR_2", "MR_1", "CT_1"]),
        ({"sort": "subject"}, ["CT_1", "MR_1", "MR_2"]),
        ({"sort": "date"}, ["MR_2", "MR_1", "CT_1"]),
        ({"sort": "no_such_column"}, ["CT_1", "MR_1", "MR_2"]),
        ({"date_from": "not a date"}, ["CT_1", "MR_1", "MR_2"]),
    ],
)
def test_project_page_search_filter_and_sort(as_user, listed, bob, query, expected):
    response = as_user(bob).get(reverse("project-detail", args=["A"]), query)
    assert response.status_code == 200
    assert labels(response) == expected


def test_search_by_accession_id(as_user, listed, carol):
    wanted = listed["MR_2"].accession_id
    response = as_user(carol).get(reverse("project-detail", args=["A"]), {"q": wanted})
    assert labels(response) == ["MR_2"]


def test_project_page_paginates_and_keeps_filters_in_links(as_user, project_a, alice):
    subject = make_subject(project_a, "S")
    ImageSession.objects.bulk_create(
        ImageSession(
            project=project_a, subject=subject, label=f"E{n:03d}", accession_id=f"X_E{n:05d}", modality="MR"
        )
        for n in range(25)
    )
    client = as_user(alice)
    response = client.get(reverse("project-detail", args=["A"]), {"per_page": 10, "sort": "label", "q": "E0"})
    assert labels(response) == [f"E{n:03d}" for n in range(10)]
    assert response.context["page"].paginator.count == 25
    html = response.content.decode()
    assert "Page 1 of 3" in html
    assert "page=2" in html and "q=E0" in html and "sort=label" in html
    third = client.get(reverse("project-detail", args=["A"]), {"per_page": 10, "sort": "label", "page": 3})
    assert labels(third) == [f"E{n:03d}" for n in range(20, 25)]
    beyond = client.get(reverse("project-detail", args=["A"]), {"per_page": 10, "sort": "label", "page": 99})
    assert labels(beyond) == labels(third)


def _bulk_sessions(project, count):
    subjects = Subject.objects.bulk_create(
        Subject(project=project, label=f"SUB{n:04d}", accession_id=f"Q_S{project.id}{n:05d}")
        for n in range(count)
    )
    sessions = ImageSession.objects.bulk_create(
        ImageSession(
            project=project,
            subject=subjects[n],
            label=f"SES{n:04d}",
            accession_id=f"Q_E{project.id}{n:05d}",
            modality="MR",
            date=datetime.date(2020, 1, 1) + datetime.timedelta(days=n),
        )
        for n in range(count)
    )
    Scan.objects.bulk_create(Scan(session=s, scan_id=str(k)) for s in sessions for k in (1, 2))


@pytest.mark.parametrize("url_name", ["project-detail", "subject-list"])
def test_listing_query_count_does_not_grow_with_rows(as_user, alice, django_assert_max_num_queries, url_name):
    few, many = make_project("FEW", alice), make_project("MANY", alice)
    _bulk_sessions(few, 10)
    _bulk_sessions(many, 200)
    client = as_user(alice)
    client.get(reverse(url_name, args=["FEW"]))  # warm the session and permission caches alike
    counts = {}
    for project_id in ("FEW", "MANY"):
        with django_assert_max_num_queries(15) as captured:
            response = client.get(reverse(url_name, args=[project_id]), {"per_page": 500})
        assert len(response.context["page"].object_list) == (10 if project_id == "FEW" else 200)
        counts[project_id] = len(captured.captured_queries)
    assert counts["FEW"] == counts["MANY"]


def test_protected_project_shows_existence_not_data(as_user, alice, dave):
    project = make_project("PROT", alice, accessibility="protected")
    subject = make_subject(project, "HIDDEN_SUBJECT")
    session = ImageSessionFactory(project=project, subject=subject, label="HIDDEN_SESSION")
    client = as_user(dave)
    response = client.get(reverse("project-detail", args=["PROT"]))
    assert response.status_code == 200 and "page" not in response.context
    # labels no random token on the page can contain by chance (a two-letter label once matched the CSRF token)
    assert b"HIDDEN_SUBJECT" not in response.content and b"HIDDEN_SESSION" not in response.content
    assert client.get(reverse("subject-list", args=["PROT"])).status_code == 404
    assert client.get(session_url("session-detail", session)).status_code == 404
    assert client.get(reverse("subject-detail", args=["PROT", "HIDDEN_SUBJECT"])).status_code == 404


def test_public_project_is_readable_but_shows_no_edit_controls(as_user, alice, dave):
    project = make_project("PUB", alice, accessibility="public")
    session = ImageSessionFactory(project=project, subject=make_subject(project, "S1"), label="E1")
    add_dicom_scan(session, "1", "MR_small.dcm")
    client = as_user(dave)
    page = client.get(session_url("session-detail", session))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Save scans" not in html and "Edit session" not in html
    response = client.post(session_url("session-scans-edit", session), {"quality-1": "unusable"})
    assert response.status_code == 403
    assert Scan.objects.get(session=session).quality == "usable"


# --- someone else's project ---------------------------------------------------------------------------
def test_stranger_gets_404_everywhere_in_a_private_project(as_user, session_a, dave):
    client = as_user(dave)
    file = File.objects.filter(resource__scan__session=session_a).first()
    urls = [
        reverse("project-detail", args=["A"]),
        reverse("subject-list", args=["A"]),
        reverse("subject-detail", args=["A", "SUBJ1"]),
        session_url("session-detail", session_a),
        session_url("scan-detail", session_a, "1"),
        session_url("file-download", session_a, file.pk),
        reverse("project-settings", args=["A"]),
        reverse("project-history", args=["A"]),
        reverse("project-users", args=["A"]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    for url in urls[2:5]:
        assert client.post(url, {"note": "mine", "quality": "unusable"}).status_code == 404, url
    assert (
        client.post(session_url("session-scans-edit", session_a), {"quality-1": "unusable"}).status_code
        == 404
    )
    assert (
        client.post(reverse("project-settings", args=["A"]), {"accessibility": "public"}).status_code == 404
    )
    session_a.refresh_from_db()
    assert session_a.note == "" and not Scan.objects.filter(quality="unusable").exists()
    assert Project.objects.get(pk="A").accessibility == "private"


def test_pages_need_sign_in(client, session_a):
    response = client.get(session_url("session-detail", session_a))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_unknown_subject_session_and_scan_are_404(as_user, session_a, alice):
    client = as_user(alice)
    assert client.get(reverse("subject-detail", args=["A", "NOPE"])).status_code == 404
    assert client.get(reverse("session-detail", args=["A", "NOPE"])).status_code == 404
    assert client.get(session_url("scan-detail", session_a, "99")).status_code == 404


# --- subject page -------------------------------------------------------------------------------------
def test_subject_page_by_label_or_accession_id_lists_its_sessions(as_user, session_a, carol):
    client = as_user(carol)
    by_label = client.get(reverse("subject-detail", args=["A", "subj1"]))
    by_id = client.get(reverse("subject-detail", args=["A", session_a.subject.accession_id]))
    assert by_label.status_code == by_id.status_code == 200
    assert [s.label for s in by_label.context["sessions"]] == ["SESS1"]
    assert b"Edit subject" not in by_label.content  # a collaborator sees no edit controls


def test_member_edits_a_subject_and_sees_it_in_history(as_user, subject_a, bob):
    client = as_user(bob)
    url = reverse("subject-detail", args=["A", "SUBJ1"])
    response = client.post(
        url, {"group": "patients", "gender": "female", "yob": "1971", "handedness": "", "src": "", "note": ""}
    )
    assert response.status_code == 302
    subject_a.refresh_from_db()
    assert (subject_a.group, subject_a.gender, subject_a.yob) == ("patients", "female", 1971)
    page = client.get(url)
    assert b"archive.subject.updated" in page.content
    assert b"gender, group, yob" in page.content


def test_subject_edit_with_a_bad_year_re_renders_with_the_reason(as_user, subject_a, bob):
    response = as_user(bob).post(
        reverse("subject-detail", args=["A", "SUBJ1"]), {"yob": "1200", "gender": "", "handedness": ""}
    )
    assert response.status_code == 200
    assert "Year of birth must be between 1850" in response.content.decode()
    subject_a.refresh_from_db()
    assert subject_a.yob is None


def test_collaborator_post_to_subject_is_refused(as_user, subject_a, carol):
    response = as_user(carol).post(reverse("subject-detail", args=["A", "SUBJ1"]), {"group": "x"})
    assert response.status_code == 403
    subject_a.refresh_from_db()
    assert subject_a.group == ""


# --- session page -------------------------------------------------------------------------------------
def _add_preview(scan: Scan) -> File:
    folder = layout.scan_resource_dir(scan.session.project_id, scan.session.label, scan.scan_id, "SNAPSHOTS")
    folder.mkdir(parents=True)
    target = folder / f"{scan.scan_id}_preview.png"
    Image.new("L", (8, 8), 128).save(target)
    resource = Resource.objects.create(scan=scan, label="SNAPSHOTS", format="PNG", content="ORIGINAL")
    return File.objects.create(
        resource=resource, name=target.name, path=layout.relative_path(target), size=target.stat().st_size
    )


def test_session_page_shows_scans_with_previews_files_and_sizes(as_user, session_a, carol):
    preview = _add_preview(session_a.scans.get(scan_id="1"))
    client = as_user(carol)
    response = client.get(session_url("session-detail", session_a))
    assert response.status_code == 200
    scans = response.context["scans"]
    assert [s.scan_id for s in scans] == ["1", "2"]
    assert scans[0].preview == preview and scans[1].preview is None
    dicom = {r.label: r for r in scans[0].resources.all()}["DICOM"]
    assert dicom.file_count == 2 and dicom.total_size == sum(
        f.size for f in File.objects.filter(resource=dicom)
    )
    html = response.content.decode()
    preview_url = session_url("file-download", session_a, preview.pk)
    assert f'src="{preview_url}"' in html
    image = client.get(preview_url)
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(b"".join(image.streaming_content))).size == (8, 8)
    assert "Save scans" not in html  # collaborator


def test_session_page_query_count_does_not_grow_with_scans(
    as_user, project_a, alice, django_assert_max_num_queries
):
    client = as_user(alice)
    counts = []
    for label, n in (("SMALL", 2), ("BIG", 20)):
        session = ImageSessionFactory(project=project_a, label=label)
        for k in range(n):
            scan = Scan.objects.create(session=session, scan_id=str(k + 1), sort_key=k + 1)
            Resource.objects.create(scan=scan, label="DICOM")
        client.get(session_url("session-detail", session))
        with django_assert_max_num_queries(30) as captured:
            assert client.get(session_url("session-detail", session)).status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_member_edits_session_fields(as_user, session_a, bob):
    response = as_user(bob).post(
        session_url("session-detail", session_a),
        {
            "visit_id": "V1",
            "session_type": "follow-up",
            "date": "2024-02-03",
            "time": "10:11:12",
            "note": "fine",
        },
    )
    assert response.status_code == 302
    session_a.refresh_from_db()
    assert (session_a.visit_id, session_a.date, session_a.time) == (
        "V1",
        datetime.date(2024, 2, 3),
        datetime.time(10, 11, 12),
    )
    assert AuditEvent.objects.filter(action="archive.session.updated", actor=bob).count() == 1


def test_member_saves_the_scan_table_at_once(as_user, session_a, bob):
    response = as_user(bob).post(
        session_url("session-scans-edit", session_a),
        {
            "type-1": "T1w",
            "quality-1": "questionable",
            "note-1": "motion",
            "type-2": "CT",
            "quality-2": "usable",
            "note-2": "",
        },
    )
    assert response.status_code == 302
    scans = {s.scan_id: s for s in Scan.objects.filter(session=session_a)}
    assert (scans["1"].type, scans["1"].quality, scans["1"].note) == ("T1w", "questionable", "motion")
    assert scans["2"].type == "CT"
    assert AuditEvent.objects.filter(action="archive.scan.updated").count() == 2


def test_scan_table_with_one_bad_value_saves_nothing(as_user, session_a, bob):
    client = as_user(bob)
    response = client.post(
        session_url("session-scans-edit", session_a), {"type-1": "T1w", "quality-2": "excellent"}, follow=True
    )
    assert "Nothing was saved: Quality must be one of" in response.content.decode()
    assert set(Scan.objects.filter(session=session_a).values_list("type", "quality")) == {
        (s.type, "usable") for s in Scan.objects.filter(session=session_a)
    }
    assert Scan.objects.get(session=session_a, scan_id="1").type != "T1w"
    assert not AuditEvent.objects.filter(action="archive.scan.updated").exists()


def test_collaborator_cannot_post_scan_edits(as_user, session_a, carol):
    response = as_user(carol).post(session_url("session-scans-edit", session_a), {"quality-1": "unusable"})
    assert response.status_code == 403
    assert not Scan.objects.filter(quality="unusable").exists()


# --- scan page and DICOM header -----------------------------------------------------------------------
def test_scan_page_shows_the_header_of_the_first_dicom_file(as_user, session_a, carol):
    response = as_user(carol).get(session_url("scan-detail", session_a, "1"))
    assert response.status_code == 200
    rows = {row.keyword: row for row in response.context["header"]}
    assert rows["Modality"].value == "MR"
    assert rows["TransferSyntaxUID"].tag == "(0002,0010)"
    assert "PixelData" not in rows  # stop_before_pixels
    assert response.context["chosen"].name == "1-1.dcm"
    assert "DICOM header of 1-1.dcm" in response.content.decode()


def test_scan_page_shows_a_chosen_file_and_ignores_other_sessions_files(as_user, session_a, alice):
    client = as_user(alice)
    second = File.objects.get(resource__scan__session=session_a, name="1-2.dcm")
    response = client.get(session_url("scan-detail", session_a, "1"), {"file": second.pk})
    assert response.context["chosen"] == second
    other_scan_file = File.objects.get(resource__scan__session=session_a, name="2-1.dcm")
    response = client.get(session_url("scan-detail", session_a, "1"), {"file": other_scan_file.pk})
    assert response.context["chosen"] is None and response.context["header"] == []


def test_header_shows_sequences_indented(as_user, project_a, alice):
    session = ImageSessionFactory(project=project_a, label="RT")
    add_dicom_scan(session, "1", "rtplan.dcm")
    response = as_user(alice).get(session_url("scan-detail", session, "1"))
    rows = response.context["header"]
    sequence = next(r for r in rows if r.vr == "SQ")
    after = rows[rows.index(sequence) + 1]
    assert after.keyword == "Item 1" and after.depth == sequence.depth + 1
    assert rows[rows.index(sequence) + 2].depth == sequence.depth + 2


def test_a_missing_file_on_disk_is_reported_not_raised(as_user, session_a, alice):
    file = File.objects.get(resource__scan__session=session_a, name="1-1.dcm")
    file.absolute_path.unlink()
    client = as_user(alice)
    response = client.get(session_url("scan-detail", session_a, "1"))
    assert response.status_code == 200 and "Cannot read 1-1.dcm" in response.content.decode()
    assert client.get(session_url("file-download", session_a, file.pk)).status_code == 404


def test_member_edits_a_scan_on_its_page_and_collaborator_cannot(as_user, session_a, bob, carol):
    url = session_url("scan-detail", session_a, "2")
    fields = {
        "type": "CT head",
        "series_description": "axial",
        "quality": "unusable",
        "condition": "",
        "note": "",
    }
    assert as_user(carol).post(url, fields).status_code == 403
    assert as_user(bob).post(url, fields).status_code == 302
    scan = Scan.objects.get(session=session_a, scan_id="2")
    assert (scan.type, scan.series_description, scan.quality) == ("CT head", "axial", "unusable")
    assert AuditEvent.objects.filter(action="archive.scan.updated").count() == 1


def test_file_download_gives_the_bytes_to_readers(as_user, session_a, carol):
    file = File.objects.get(resource__scan__session=session_a, name="2-1.dcm")
    response = as_user(carol).get(session_url("file-download", session_a, file.pk))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == file.absolute_path.read_bytes()
    assert 'filename="2-1.dcm"' in response["Content-Disposition"]


def test_file_of_another_session_is_not_served_through_this_one(as_user, session_a, project_a, alice):
    other = ImageSessionFactory(project=project_a, label="OTHER")
    add_dicom_scan(other, "1", "CT_small.dcm")
    file = File.objects.get(resource__scan__session=other)
    assert as_user(alice).get(session_url("file-download", session_a, file.pk)).status_code == 404


# --- settings and history -----------------------------------------------------------------------------
def settings_form(**changes):
    data = {"name": "Project A", "secondary_id": "", "description": "", "keywords": "", "pi": ""}
    data.update(accessibility="private", prearchive_code="0")
    data.update(changes)
    return data


def test_owner_changes_accessibility_and_prearchive_code(as_user, project_a, alice):
    client = as_user(alice)
    response = client.post(
        reverse("project-settings", args=["A"]), settings_form(accessibility="protected", prearchive_code="4")
    )
    assert response.status_code == 302
    project_a.refresh_from_db()
    assert (project_a.accessibility, project_a.prearchive_code) == ("protected", 4)
    event = AuditEvent.objects.get(action="archive.project.updated")
    assert event.details == {"accessibility": "protected", "prearchive_code": 4}
    history = client.get(reverse("project-history", args=["A"]))
    assert b"archive.project.updated" in history.content


def test_settings_refuse_an_unknown_prearchive_code(as_user, project_a, alice):
    response = as_user(alice).post(
        reverse("project-settings", args=["A"]), settings_form(prearchive_code="3")
    )
    assert response.status_code == 200 and response.context["form"].errors["prearchive_code"]
    project_a.refresh_from_db()
    assert project_a.prearchive_code == 0


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_members_and_collaborators_cannot_open_or_post_settings(as_user, project_a, cast, who):
    client = as_user(cast[who])
    assert client.get(reverse("project-settings", args=["A"])).status_code == 403
    assert (
        client.post(
            reverse("project-settings", args=["A"]), settings_form(accessibility="public")
        ).status_code
        == 403
    )
    assert client.post(reverse("project-alias", args=["A"]), {"alias": "AA"}).status_code == 403
    assert client.get(reverse("project-history", args=["A"])).status_code == 403
    assert b"Settings" not in client.get(reverse("project-detail", args=["A"])).content
    project_a.refresh_from_db()
    assert project_a.accessibility == "private" and not project_a.aliases.exists()


def test_owner_adds_and_removes_an_alias(as_user, project_a, alice):
    client = as_user(alice)
    client.post(reverse("project-alias", args=["A"]), {"alias": "STUDY_A"})
    assert list(project_a.aliases.values_list("alias", flat=True)) == ["STUDY_A"]
    bad = client.post(reverse("project-alias", args=["A"]), {"alias": "../x"}, follow=True)
    assert "may only contain letters" in bad.content.decode()
    client.post(reverse("project-alias", args=["A"]), {"remove": "STUDY_A"})
    assert not project_a.aliases.exists()
    assert AuditEvent.objects.filter(action="archive.project.alias_removed").exists()


def test_project_list_shows_counts_and_last_activity(as_user, session_a, alice):
    response = as_user(alice).get(reverse("project-list"))
    project = next(p for p in response.context["projects"] if p.id == "A")
    assert (project.subject_count, project.session_count) == (1, 1)
    assert project.last_activity == session_a.created_at


def test_owner_manages_users_from_the_users_tab(as_user, project_a, alice, dave):
    client = as_user(alice)
    client.post(reverse("project-users", args=["A"]), {"user": "dave", "role": "member"})
    from xnatlite import permissions

    assert permissions.role_of(dave, project_a) == "member"
    projects.set_project_role(project_a, dave, "collaborator", by=alice)
    assert permissions.role_of(dave, project_a) == "collaborator"


# --- downloads ----------------------------------------------------------------------------------------
def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_collaborator_downloads_the_session_zip_in_xnat_layout(as_user, session_a, carol):
    response = as_user(carol).get(session_url("session-download", session_a))
    assert 'filename="SESS1.zip"' in response["Content-Disposition"]
    archive = _zip(response)
    names = sorted(archive.namelist())
    assert names == [
        "SESS1/scans/1-T1/resources/DICOM/files/1-1.dcm",
        "SESS1/scans/1-T1/resources/DICOM/files/1-2.dcm",
        "SESS1/scans/2-T1/resources/DICOM/files/2-1.dcm",
    ]
    for file in File.objects.filter(resource__scan__session=session_a):
        member = next(n for n in names if n.endswith("/" + file.name))
        assert archive.read(member) == file.absolute_path.read_bytes()


def test_download_of_chosen_scans_only(as_user, session_a, alice):
    response = as_user(alice).get(session_url("session-download", session_a), {"scan": ["2"]})
    assert _zip(response).namelist() == ["SESS1/scans/2-T1/resources/DICOM/files/2-1.dcm"]


def test_download_of_an_unknown_scan_is_404_and_strangers_get_404(as_user, session_a, alice, dave):
    assert as_user(alice).get(session_url("session-download", session_a), {"scan": ["9"]}).status_code == 404
    assert as_user(dave).get(session_url("session-download", session_a)).status_code == 404


def test_session_page_offers_the_downloads(as_user, session_a, carol):
    html = as_user(carol).get(session_url("session-detail", session_a)).content.decode()
    assert f'href="{session_url("session-download", session_a)}"' in html
    assert 'name="scan" value="1" form="download-scans"' in html


def test_scan_files_are_in_instance_order_named_by_number_and_uid_and_snapshots_offer_no_header(
    as_user, session_a, alice
):
    """Issue 15: XNAT's file names carry the InstanceNumber; the scan page sorts by it (10 after 9,
    not after 1), shows it and the SOP Instance UID; a PNG snapshot has no "show header" link."""
    scan = Scan.objects.get(session=session_a, scan_id="1")
    dicom = scan.resources.get(label="DICOM")
    File.objects.filter(resource=dicom).delete()
    for number in (10, 2, 9, 1):
        File.objects.create(
            resource=dicom,
            name=f"1.2.3-1-{number}-abc{number}.dcm",
            path=f"x/{number}.dcm",
            sop_instance_uid=f"1.2.3.4.{number}",
        )
    snapshots = Resource.objects.create(scan=scan, label="SNAPSHOTS", format="PNG")
    File.objects.create(resource=snapshots, name="1_qc.png", path="x/1_qc.png")
    html = as_user(alice).get(reverse("scan-detail", args=["A", "SESS1", "1"])).content.decode()
    rows = html[html.index('<table class="listing files">') :]
    rows = rows[: rows.index("</table>")].split("<tr")[2:]
    numbers = [row.split('<td class="num instance">')[1].split("<")[0] for row in rows]
    assert numbers == ["1", "2", "9", "10", ""]
    assert "shown below" in rows[0]  # the header shown at first is the lowest InstanceNumber's
    assert "1.2.3.4.9" in rows[2] and "show header" in rows[2]
    assert "1_qc.png" in rows[4] and "show header" not in rows[4]
