"""`manage.py serve` from nothing: migrates a fresh database, makes the admin, serves real HTTP."""

import re

import pytest
import requests


@pytest.mark.e2e
def test_serve_starts_on_an_empty_database_and_serves_pages(serve_factory, tmp_path):
    server = serve_factory(
        "--web-only",
        DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        XNATLITE_ADMIN_USERNAME="admin",
        XNATLITE_ADMIN_PASSWORD="s3cret-Pass",
    )
    web = requests.Session()
    home = web.get(server.url, timeout=10)
    assert home.status_code == 200 and 'name="password"' in home.text
    css = web.get(server.url + "static/xnatlite.css", timeout=10)
    assert css.status_code == 200 and "--accent" in css.text

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home.text).group(1)
    signed_in = web.post(
        server.url + "login/",
        timeout=10,
        headers={"Referer": server.url},
        data={"username": "admin", "password": "s3cret-Pass", "csrfmiddlewaretoken": token},
    )
    assert signed_in.status_code == 200
    assert "Sign out" in signed_in.text and "Projects" in signed_in.text
    assert web.get(server.url + "admin/", timeout=10).status_code == 200

    assert server.stop() == 0
    assert "xnatlite stopped" in server.log.read_text()
