"""Receiver configurations and the site routing rules, both edited by site admins in Django admin.

The receiver process re-reads them every few seconds, so a change takes effect without a restart
(xnat-spec.md §5.2, §5.5).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from dicom_receiver import routing
from xnatlite.errors import InvalidInput


def _check(check, value) -> None:
    try:
        check(value)
    except InvalidInput as exc:
        raise ValidationError(exc.message) from None


def validate_ae_title(value: str) -> None:
    _check(routing.check_ae_title, value)


def validate_rules(value: str) -> None:
    _check(routing.parse_rules, value)


def validate_whitelist(value: str) -> None:
    _check(routing.parse_whitelist, value)


class Receiver(models.Model):
    """A DICOM C-STORE SCP: an AE title on a port, with optional routing and a whitelist."""

    ae_title = models.CharField("AE title", max_length=16, validators=[validate_ae_title])
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True)
    anonymization_enabled = models.BooleanField(
        default=True,
        help_text="apply the site anonymization script; off marks sessions prevent_anon and keeps the files as sent",
    )
    project_routing = models.TextField(
        blank=True,
        validators=[validate_rules],
        help_text="one rule per line: (gggg,eeee):regex[:group], e.g. (0008,1030):Project:\\s*(\\w+)",
    )
    subject_routing = models.TextField(blank=True, validators=[validate_rules])
    session_routing = models.TextField(blank=True, validators=[validate_rules])
    whitelist = models.TextField(
        blank=True,
        validators=[validate_whitelist],
        help_text="who may send, one per line: AE title, IP address or network (10.0.0.0/8), or AE@IP; "
        "empty lets everyone send",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["port", "ae_title"]
        constraints = [models.UniqueConstraint("ae_title", "port", name="receiver_ae_port_unique")]

    def __str__(self) -> str:
        return f"{self.ae_title}:{self.port}"

    @property
    def whitelist_entries(self) -> list[routing.WhitelistEntry]:
        return routing.parse_whitelist(self.whitelist)


def ensure_default_receiver() -> Receiver | None:
    """The receiver from XNATLITE_AE_TITLE/XNATLITE_DICOM_PORT, created when no receiver exists yet."""
    if Receiver.objects.exists():
        return None
    receiver, _ = Receiver.objects.get_or_create(
        ae_title=settings.AE_TITLE,
        port=settings.DICOM_PORT,
        defaults={"description": "default receiver (XNATLITE_AE_TITLE, XNATLITE_DICOM_PORT)"},
    )
    return receiver


class SiteRoutingRules(models.Model):
    """The site-wide custom routing rules (XNAT's `dicom/projectRules` ... `dicom/aaRules`, §5.5).

    One row; each rule list applies only while it is enabled.
    """

    project_rules = models.TextField(blank=True, validators=[validate_rules])
    project_rules_enabled = models.BooleanField(default=True)
    subject_rules = models.TextField(blank=True, validators=[validate_rules])
    subject_rules_enabled = models.BooleanField(default=True)
    session_rules = models.TextField(blank=True, validators=[validate_rules])
    session_rules_enabled = models.BooleanField(default=True)
    aa_rules = models.TextField(
        "auto-archive rules",
        blank=True,
        validators=[validate_rules],
        help_text="a rule whose value is true or false decides auto-archive",
    )
    aa_rules_enabled = models.BooleanField("auto-archive rules enabled", default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site routing rules"
        verbose_name_plural = "site routing rules"

    def __str__(self) -> str:
        return "Site routing rules"

    @classmethod
    def load(cls) -> SiteRoutingRules:
        """The one row (an unsaved empty one when none was saved yet)."""
        return cls.objects.order_by("pk").first() or cls()


RULES_CACHE_SECONDS = 5.0  # XNAT caches site rules ~5 s too (§5.5): edits apply almost at once
_site_rules_cache: tuple[float, dict] | None = None
_receiver_rules_cache: dict[tuple, routing.RuleSet] = {}


def _site_rules() -> dict:
    global _site_rules_cache
    now = time.monotonic()
    if _site_rules_cache is None or now - _site_rules_cache[0] > RULES_CACHE_SECONDS:
        row = SiteRoutingRules.load()
        rules = {
            kind: routing.parse_rules(getattr(row, f"{kind}_rules"))
            if getattr(row, f"{kind}_rules_enabled")
            else []
            for kind in ("project", "subject", "session", "aa")
        }
        _site_rules_cache = (now, rules)
    return _site_rules_cache[1]


def forget_cached_rules() -> None:
    """Drop the cached site rules and project names (after an edit in this process, between tests)."""
    from prearchive.ingest import forget_cached_projects

    global _site_rules_cache
    _site_rules_cache = None
    _receiver_rules_cache.clear()
    forget_cached_projects()


def rule_set(receiver: Receiver | None) -> routing.RuleSet:
    """The receiver's expressions and the site's enabled rules, parsed, for routing one instance."""
    site = _site_rules()
    key = (receiver.pk, receiver.updated_at, id(site)) if receiver is not None else (None, None, id(site))
    rules = _receiver_rules_cache.get(key)
    if rules is None:
        parse = routing.parse_rules
        rules = routing.RuleSet(
            receiver_project=parse(receiver.project_routing) if receiver else [],
            receiver_subject=parse(receiver.subject_routing) if receiver else [],
            receiver_session=parse(receiver.session_routing) if receiver else [],
            site_project=site["project"],
            site_subject=site["subject"],
            site_session=site["session"],
            site_aa=site["aa"],
        )
        if len(_receiver_rules_cache) > 256:
            _receiver_rules_cache.clear()
        _receiver_rules_cache[key] = rules
    return rules


class QuarantinedInstance(models.Model):
    """An instance the receiver acknowledged but could not process (its site script failed, it turned
    out unreadable): kept in `spool/quarantine/` for a site admin to process again or delete
    (README "The DICOM receiver", "Files and durability")."""

    audit_type = "quarantined_instance"

    file_name = models.CharField(max_length=255, unique=True, help_text="in {data root}/spool/quarantine/")
    reason = models.TextField()
    size = models.BigIntegerField(default=0)
    received_at = models.DateTimeField(null=True, blank=True)
    quarantined_at = models.DateTimeField(auto_now=True)
    receiver_ae = models.CharField("receiver AE title", max_length=16, blank=True)
    calling_ae = models.CharField("calling AE title", max_length=16, blank=True)
    peer_address = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-quarantined_at", "-id"]

    def __str__(self) -> str:
        return self.file_name
