"""The API's own writes: alias tokens (issue, check, revoke) and XNAT custom variables."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from archive.models import ImageSession, Subject
from xnatapi.models import AliasToken, CustomVariable
from xnatlite import audit, permissions
from xnatlite.errors import Forbidden, InvalidInput, NotFound

# xnatpy treats a user name of this shape as an alias token (xnat-rest-api.md §2.1).
ALIAS_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@transaction.atomic
def issue_alias_token(user: User, *, parent: str | None = None) -> tuple[AliasToken, str]:
    """A new token for the signed-in user; the secret is returned once and only its hash is kept.

    `parent` is the alias of the token the user signed in with, if any: the new token is revoked with
    it and never outlives it."""
    if user is None or not user.is_authenticated:
        raise Forbidden("Sign in to issue a token")
    expires_at = timezone.now() + timedelta(hours=settings.ALIAS_TOKEN_HOURS)
    issuer = None
    if parent:
        issuer = AliasToken.objects.filter(alias=parent, user=user).first()
        if issuer is None or not issuer.is_valid:
            raise Forbidden("The token you signed in with has ended")
        expires_at = min(expires_at, issuer.expires_at)
    secret = secrets.token_urlsafe(32)
    token = AliasToken.objects.create(
        user=user,
        alias=str(uuid.uuid4()),
        secret_hash=make_password(secret),
        expires_at=expires_at,
        parent=issuer,
    )
    audit.record(user, "api.token.issued", token.alias, **({"parent": parent} if parent else {}))
    return token, secret


def valid_alias_token(alias: str, secret: str) -> AliasToken | None:
    """The valid token of an active user that an (alias, secret) pair names, or None."""
    if not ALIAS_RE.fullmatch(alias or ""):
        return None
    token = AliasToken.objects.select_related("user").filter(alias=alias).first()
    if token is None or not token.is_valid or not token.user.is_active:
        return None
    return token if check_password(secret, token.secret_hash) else None


def authenticate_alias(alias: str, secret: str) -> User | None:
    """The active user a valid (alias, secret) pair stands for, or None."""
    token = valid_alias_token(alias, secret)
    return token.user if token is not None else None


def alias_token_active(alias: str) -> bool:
    """Is this token still valid (not revoked, not expired, its user active)? Sessions it opened ask
    on every request, so they end when it does."""
    return AliasToken.objects.filter(
        alias=alias, revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True
    ).exists()


@transaction.atomic
def revoke_alias_token(alias: str, *, by: User) -> AliasToken:
    """End a token now, with every token minted under it (and the sessions they opened, which ask
    `alias_token_active`); its owner or a site admin may do it. Someone else's token is NotFound."""
    token = AliasToken.objects.filter(alias=alias).first()
    if token is None or not (token.user_id == by.pk or permissions.is_site_admin(by)):
        raise NotFound(f"No token '{alias}'")
    now = timezone.now()
    ending, parents = [token], [token.pk]
    while parents:  # the tokens minted under it, generation by generation
        minted = list(AliasToken.objects.filter(parent__in=parents).select_related("user", "parent"))
        ending += minted
        parents = [child.pk for child in minted]
    for ended in ending:
        if ended.revoked_at is None:
            ended.revoked_at = now
            ended.save(update_fields=["revoked_at"])
            via = {"via": token.alias} if ended is not token else {}
            audit.record(by, "api.token.revoked", ended.alias, user=ended.user.get_username(), **via)
    return token


_VARIABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,254}")


@transaction.atomic
def set_custom_variables(obj: Subject | ImageSession, values: dict[str, str], *, by: User) -> None:
    """Set custom variables on a subject or session (members and owners); an empty value removes one."""
    permissions.require(by, "edit", obj)
    owner = {"subject": obj} if isinstance(obj, Subject) else {"session": obj}
    cleaned = {}
    for name, value in values.items():
        key = name.strip().lower()
        if not _VARIABLE_NAME.fullmatch(key):
            raise InvalidInput(f"Custom variable name '{name}' may only hold letters, digits and _")
        cleaned[key] = "" if value in (None, "NULL") else str(value)
    for key, value in cleaned.items():
        if value == "":
            CustomVariable.objects.filter(name=key, **owner).delete()
        else:
            CustomVariable.objects.update_or_create(name=key, **owner, defaults={"value": value})
    audit.record(by, "archive.custom_variables.set", obj, names=sorted(cleaned))


def custom_variables(obj: Subject | ImageSession) -> dict[str, str]:
    owner = {"subject": obj} if isinstance(obj, Subject) else {"session": obj}
    return dict(CustomVariable.objects.filter(**owner).values_list("name", "value"))
