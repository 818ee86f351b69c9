"""Alias tokens: a pair (alias, secret) a user issues to sign in scripts without their password.

XNAT's tokens (`/data/services/tokens/issue`) are used by xnatpy as a user name that looks like a UUID
with the secret as password (xnat-rest-api.md §2.1). Only a hash of the secret is stored. A token issued
by someone signed in with a token records that one as its `parent`, so revoking a token revokes every
token minted under it; a session opened with a token names it (xnatapi/auth.py) and ends with it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AliasToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="alias_tokens", on_delete=models.CASCADE)
    alias = models.CharField(max_length=36, unique=True)
    secret_hash = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        related_name="minted",
        on_delete=models.CASCADE,
        help_text="the token its issuer was signed in with, if any",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.alias} ({self.user})"

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class CustomVariable(models.Model):
    """An XNAT custom variable (`fields/field[name=...]`) on a subject or a session, set by clients such
    as xnatpy (`experiment.fields["visit"] = "baseline"`). Names are stored lower-case, as XNAT does."""

    subject = models.ForeignKey(
        "archive.Subject", null=True, blank=True, related_name="custom_variables", on_delete=models.CASCADE
    )
    session = models.ForeignKey(
        "archive.ImageSession",
        null=True,
        blank=True,
        related_name="custom_variables",
        on_delete=models.CASCADE,
    )
    name = models.CharField(max_length=255)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(subject__isnull=False, session__isnull=True)
                | models.Q(subject__isnull=True, session__isnull=False),
                name="custom_variable_has_one_owner",
            ),
            models.UniqueConstraint("subject", "name", name="custom_variable_subject_name"),
            models.UniqueConstraint("session", "name", name="custom_variable_session_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
