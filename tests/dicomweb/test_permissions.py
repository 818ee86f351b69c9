"""Who finds and retrieves what over DICOMweb: the role x accessibility matrix, per-project roots, and a
hidden study answering exactly as a missing one (404 on a direct WADO-RS URL, nothing in QIDO-RS)."""

from __future__ import annotations

import pytest
import requests

from xnatlite import projects

pytestmark = pytest.mark.e2e

# user -> (reads a private project, reads a public project); A is alice's, bob a member, carol a
# collaborator, dave a stranger, root a site admin.
READS = {
    "alice": (True, True),
    "bob": (True, True),
    "carol": (True, True),
    "dave": (False, True),
    "root": (True, True),
}


@pytest.mark.parametrize("accessibility", ["private", "protected", "public"])
def test_the_role_and_accessibility_matrix(
    accessibility, cast, archive_study, client, server, alice, project_a
):
    session, _ = archive_study("A", alice, n_series=1, n_instances=1)
    theirs, _ = archive_study("D", cast["dave"], n_series=1, n_instances=1)
    projects.update_project(project_a, by=alice, accessibility=accessibility)
    study_uid = session.study_instance_uid
    for name, user in cast.items():
        may_read = READS[name][1] if accessibility == "public" else READS[name][0]
        web = client(user)
        found = {s["0020000D"]["Value"][0] for s in web.search_for_studies()}
        assert (study_uid in found) is may_read, (name, accessibility)
        assert (theirs.study_instance_uid in found) is (name in ("dave", "root")), name
        series = web.search_for_series(search_filters={"StudyInstanceUID": study_uid})
        assert bool(series) is may_read, name
        assert bool(web.search_for_instances(study_uid)) is may_read, name
        url = f"{server}/dicomweb/studies/{study_uid}"
        hidden = requests.get(f"{server}/dicomweb/studies/1.2.3.4.5", auth=(name, "pw"))
        answer = requests.get(url, auth=(name, "pw"))
        metadata = requests.get(f"{url}/metadata", auth=(name, "pw"))
        if may_read:
            assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(
                "multipart/related"
            )
            assert metadata.status_code == 200
        else:  # exactly as missing
            assert (
                (answer.status_code, answer.text) == (hidden.status_code, hidden.text) == (404, "Not Found")
            )
            assert (metadata.status_code, metadata.text) == (404, "Not Found")
        per_project = requests.get(f"{server}/dicomweb/projects/A/studies", auth=(name, "pw"))
        if may_read:
            assert [s["0020000D"]["Value"][0] for s in per_project.json()] == [study_uid]
        elif accessibility == "protected":  # its existence is shown, as the REST API shows it
            assert per_project.status_code == 403
        else:
            missing = requests.get(f"{server}/dicomweb/projects/NOPE/studies", auth=(name, "pw"))
            assert (per_project.status_code, per_project.text) == (missing.status_code, missing.text)
            assert per_project.status_code == 404


def test_a_project_root_finds_only_that_project(cast, archive_study, client, alice, root):
    mine, _ = archive_study("A", alice, n_series=1, n_instances=1)
    theirs, _ = archive_study("D", cast["dave"], n_series=1, n_instances=1)
    web = client(root, project="A")
    assert [s["0020000D"]["Value"][0] for s in web.search_for_studies()] == [mine.study_instance_uid]
    assert web.search_for_series(theirs.study_instance_uid) == []
    with pytest.raises(requests.HTTPError) as missing:
        web.retrieve_study(theirs.study_instance_uid)
    assert missing.value.response.status_code == 404
    assert len(web.retrieve_study(mine.study_instance_uid)) == 1


def test_signing_in(cast, archive_study, server, alice):
    from xnatapi.services import issue_alias_token

    archive_study("A", alice, n_series=1, n_instances=1)
    url = f"{server}/dicomweb/studies"
    anonymous = requests.get(url)
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert requests.get(url, auth=("alice", "wrong")).status_code == 401
    token, secret = issue_alias_token(alice)
    assert len(requests.get(url, auth=(token.alias, secret)).json()) == 1
    bearer = requests.get(url, headers={"Authorization": f"Bearer {token.alias}:{secret}"})
    assert bearer.status_code == 200 and len(bearer.json()) == 1
    assert requests.get(url, headers={"Authorization": f"Bearer {token.alias}:nope"}).status_code == 401
    # a bearer token is an alias token, never a user name and password
    assert requests.get(url, headers={"Authorization": "Bearer alice:pw"}).status_code == 401


def test_cors_is_off_by_default_and_follows_the_setting(cast, start_server):
    origin = "https://viewer.example.org"
    off = start_server()
    answer = requests.get(f"{off}/dicomweb/studies", auth=("alice", "pw"), headers={"Origin": origin})
    assert answer.status_code == 200 and "Access-Control-Allow-Origin" not in answer.headers
    on = start_server(XNATLITE_DICOMWEB_CORS_ORIGINS=origin)
    answer = requests.get(f"{on}/dicomweb/studies", auth=("alice", "pw"), headers={"Origin": origin})
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    preflight = requests.options(f"{on}/dicomweb/studies", headers={"Origin": origin})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == origin
    other = requests.get(
        f"{on}/dicomweb/studies", auth=("alice", "pw"), headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
