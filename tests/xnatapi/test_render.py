"""Every listing's formats (JSON, CSV with its header always, XML, HTML), `columns` by xpath and
wildcard filters, as xnatapi/render.py makes them."""

from __future__ import annotations

import csv
import io

from archive.services.subjects import update_subject
from tests.factories import make_subject
from tests.xnatapi.conftest import body, rows


def test_csv_always_has_a_header_even_with_no_rows(api, session_with_files, alice):
    response = api(alice).get("/data/projects/A/subjects/S1/experiments/MR1/scans/1/resources?format=csv")
    header = body(response).decode().splitlines()[0]
    assert header.startswith("xnat_abstractresource_id,label")
    empty = api(alice).get("/data/projects/A/subjects?format=csv&label=nobody*")
    assert empty.status_code == 200
    lines = b"".join(empty.streaming_content).decode().splitlines()
    assert lines == ["ID,project,label,insert_date,insert_user,URI"]


def test_xpath_columns_and_wildcard_filters(api, session_with_files, alice, project_a):

    update_subject(session_with_files["subject"], by=alice, group="control")
    make_subject(project_a, "S2")
    client = api(alice)
    result = rows(client.get("/data/projects/A/subjects?format=json&columns=ID,xnat:subjectData/group"))
    assert {r["xnat:subjectData/group"] for r in result} == {"control", ""}
    assert [r["label"] for r in rows(client.get("/data/projects/A/subjects?columns=label&label=s2"))] == [
        "S2"
    ]
    assert len(rows(client.get("/data/projects/A/subjects?columns=label&label=S*"))) == 2


def test_xml_and_html_listings(api, session_with_files, alice):
    xml = b"".join(api(alice).get("/data/projects?format=xml").streaming_content).decode()
    assert xml.startswith("<?xml") and "<cell>A</cell>" in xml
    html = b"".join(api(alice).get("/data/projects?format=html").streaming_content).decode()
    assert "<td>A</td>" in html
    assert api(alice).get("/data/projects?format=bogus").status_code == 400


def test_csv_quotes_values(api, alice, project_a):
    subject = make_subject(project_a, "S1")

    update_subject(subject, by=alice, group='a,"b"')
    text = b"".join(
        api(alice).get("/data/projects/A/subjects?format=csv&columns=label,group").streaming_content
    )
    parsed = list(csv.DictReader(io.StringIO(text.decode())))
    assert parsed[0]["group"] == 'a,"b"'
