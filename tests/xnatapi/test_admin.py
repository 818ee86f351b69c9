"""Django admin pages of the API's models: site admins list and revoke alias tokens."""

from django.urls import reverse

from xnatapi import services
from xnatapi.models import AliasToken
from xnatlite.models import AuditEvent


def test_admin_lists_and_revokes_alias_tokens(client, root, alice):
    token, secret = services.issue_alias_token(alice)
    client.force_login(root)
    listing = client.get(reverse("admin:xnatapi_aliastoken_changelist"), {"q": "alice"})
    assert listing.status_code == 200 and token.alias in listing.content.decode()
    assert secret not in listing.content.decode() and token.secret_hash not in listing.content.decode()
    response = client.post(
        reverse("admin:xnatapi_aliastoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and not token.is_valid
    assert services.authenticate_alias(token.alias, secret) is None
    assert AuditEvent.objects.filter(action="api.token.revoked", object_id=token.alias).count() == 1


def test_custom_variables_admin_loads(client, root):
    client.force_login(root)
    assert client.get(reverse("admin:xnatapi_customvariable_changelist")).status_code == 200
    assert AliasToken.objects.count() == 0
