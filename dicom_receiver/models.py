"""Receiver configurations, edited by site admins in Django admin, and the instances the receiver
quarantined. The receiver process re-reads its configuration every few seconds, so a change takes
effect without a restart (xnat-spec.md §5.2). The site routing rules are the prearchive's
(prearchive/models.py): they apply to every way in.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from dicom_receiver.whitelist import WhitelistEntry, check_ae_title, parse_whitelist
from prearchive.models import validate_rules
from xnatlite.errors import InvalidInput


def _check(check, value) -> None:
    try:
        check(value)
    except InvalidInput as exc:
        raise ValidationError(exc.message) from None


def validate_ae_title(value: str) -> None:
    _check(check_ae_title, value)


def validate_whitelist(value: str) -> None:
    _check(parse_whitelist, value)


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
    def whitelist_entries(self) -> list[WhitelistEntry]:
        return parse_whitelist(self.whitelist)

    @property
    def routing(self) -> tuple[str, str, str]:
        """The receiver's project, subject and session routing expressions, as ingest takes them."""
        return (self.project_routing, self.subject_routing, self.session_routing)


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
