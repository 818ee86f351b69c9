"""Alias tokens: issue, check and revoke (the API's only writes of its own)."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from archive import audit
from xnatapi.models import AliasToken
from xnatlite.errors import Forbidden, NotFound

# xnatpy treats a user name of this shape as an alias token (xnat-rest-api.md §2.1).
ALIAS_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@transaction.atomic
def issue_alias_token(user: AbstractBaseUser) -> tuple[AliasToken, str]:
    """A new token for the signed-in user; the secret is returned once and only its hash is kept."""
    if user is None or not user.is_authenticated:
        raise Forbidden("Sign in to issue a token")
    secret = secrets.token_urlsafe(32)
    token = AliasToken.objects.create(
        user=user,
        alias=str(uuid.uuid4()),
        secret_hash=make_password(secret),
        expires_at=timezone.now() + timedelta(hours=settings.ALIAS_TOKEN_HOURS),
    )
    audit.record(user, "api.token.issued", token.alias)
    return token, secret


def authenticate_alias(alias: str, secret: str) -> AbstractBaseUser | None:
    """The active user a valid (alias, secret) pair stands for, or None."""
    if not ALIAS_RE.fullmatch(alias or ""):
        return None
    token = AliasToken.objects.select_related("user").filter(alias=alias).first()
    if token is None or not token.is_valid or not token.user.is_active:
        return None
    return token.user if check_password(secret, token.secret_hash) else None


@transaction.atomic
def revoke_alias_token(alias: str, *, by: AbstractBaseUser) -> AliasToken:
    """End a token now; its owner or a site admin may do it. Someone else's token is NotFound."""
    token = AliasToken.objects.filter(alias=alias).first()
    if token is None or not (token.user_id == by.pk or by.is_superuser):
        raise NotFound(f"No token '{alias}'")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(by, "api.token.revoked", token.alias, user=token.user.get_username())
    return token
