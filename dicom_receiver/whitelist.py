"""Who may send to a receiver: the AE title and whitelist syntaxes of its configuration (xnat-spec.md §5.2)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from xnatlite.errors import InvalidInput

_AE_RE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # printable ASCII without backslash


def check_ae_title(value: str) -> str:
    """An AE title: 1-16 printable ASCII characters without backslash, not only spaces (§5.2)."""
    if not isinstance(value, str) or not _AE_RE.fullmatch(value) or not value.strip():
        raise InvalidInput(
            f"AE title {value!r} must be 1 to 16 printable ASCII characters, no backslash, not blank"
        )
    return value


@dataclass(frozen=True)
class WhitelistEntry:
    """`AE`, `IP` or CIDR network, or `AE@IP`: who may open associations with a receiver."""

    ae_title: str | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None

    def allows(self, calling_ae: str, address: str) -> bool:
        if self.ae_title is not None and self.ae_title != calling_ae.strip():
            return False
        if self.network is not None:
            try:
                return ipaddress.ip_address(address) in self.network
            except ValueError:
                return False
        return True


def _network(text: str):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def parse_whitelist(text: str) -> list[WhitelistEntry]:
    """Entries separated by newlines or commas; InvalidInput names a bad one."""
    entries = []
    for raw in re.split(r"[\n,]", text or ""):
        item = raw.strip()
        if not item:
            continue
        ae, sep, address = item.rpartition("@")
        if sep:
            network = _network(address)
            if network is None:
                raise InvalidInput(f"Whitelist entry {item!r}: {address!r} is not an IP address or network")
            entries.append(WhitelistEntry(check_ae_title(ae), network))
        elif (network := _network(item)) is not None:
            entries.append(WhitelistEntry(None, network))
        else:
            entries.append(WhitelistEntry(check_ae_title(item), None))
    return entries


def whitelist_allows(entries: list[WhitelistEntry], calling_ae: str, address: str) -> bool:
    """An empty whitelist allows everyone; otherwise some entry must allow the peer."""
    return not entries or any(entry.allows(calling_ae, address) for entry in entries)
