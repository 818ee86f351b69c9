"""Signing in and out and changing one's password, through the real views."""

from django.contrib.auth import get_user_model
from django.urls import reverse


def test_sign_in_lands_on_the_projects_and_sign_out_ends_the_session(client, project_a, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == reverse("project-list")
    assert client.get(reverse("project-detail", args=["A"])).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("project-detail", args=["A"])).status_code == 302


def test_sign_in_returns_to_the_page_asked_for(client, project_a, alice):
    wanted = reverse("subject-list", args=["A"])
    page = client.get(wanted)
    assert page.status_code == 302 and page["Location"] == f"{reverse('login')}?next={wanted}"
    response = client.post(reverse("login"), {"username": "alice", "password": "pw", "next": wanted})
    assert response["Location"] == wanted


def test_change_password(client, alice):
    client.force_login(alice)
    form = client.get(reverse("password_change"))
    assert form.status_code == 200 and b"new_password1" in form.content
    weak = client.post(
        reverse("password_change"), {"old_password": "pw", "new_password1": "123", "new_password2": "123"}
    )
    assert weak.status_code == 200 and weak.context["form"].errors["new_password2"]
    new = "a-much-Longer-passphrase-42"
    done = client.post(
        reverse("password_change"), {"old_password": "pw", "new_password1": new, "new_password2": new}
    )
    assert done.status_code == 302 and done["Location"] == reverse("password_change_done")
    assert get_user_model().objects.get(username="alice").check_password(new)


def test_wrong_old_password_changes_nothing(client, alice):
    client.force_login(alice)
    new = "a-much-Longer-passphrase-42"
    response = client.post(
        reverse("password_change"), {"old_password": "nope", "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 200 and response.context["form"].errors["old_password"]
    assert get_user_model().objects.get(username="alice").check_password("pw")
