"""What the router knows: registered agencies and their keys, registered contracts.

A frozen snapshot, rebuilt when the registry changes, so every check on the hot path is a
dict or set lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hub.router.policy import RoutingPolicy
from onedoor.envelope import hubmac
from onedoor.envelope.keys import HubKey


@dataclass(frozen=True, slots=True)
class AgencyEntry:
    """One registered agency as the router sees it."""

    active: bool
    """False when suspended: it may neither send nor receive."""
    signing_key_ids: frozenset[str]
    """Signing keys the hub accepts in a header (current, or retired within the overlap)."""
    encryption_keys: Mapping[str, bytes]
    """X25519 public keys by key id (current, or retired within the overlap)."""


@dataclass(slots=True)
class RoutingTables:
    """A snapshot of the registry plus the hub key, with MAC keys derived lazily and cached."""

    agencies: Mapping[str, AgencyEntry]
    contracts: frozenset[tuple[str, int]]
    """Registered ``(contract name, version)`` pairs."""
    hub_key: HubKey
    policy: RoutingPolicy | None = None
    """Agreements and consent to enforce; ``None`` routes on the registry alone (benchmarks' baseline)."""
    _mac_keys: dict[tuple[str, str], bytes] = field(default_factory=dict)

    @property
    def contract_names(self) -> frozenset[str]:
        """Names that have at least one registered version."""
        return frozenset(name for name, _ in self.contracts)

    def mac_key(self, agency: str, key_id: str) -> bytes | None:
        """The hub MAC key for ``agency``'s encryption key ``key_id``, or None if it is not valid."""
        cached = self._mac_keys.get((agency, key_id))
        if cached is not None:
            return cached
        entry = self.agencies.get(agency)
        public = entry.encryption_keys.get(key_id) if entry else None
        if public is None:
            return None
        key = hubmac.hub_mac_key(self.hub_key.private, self.hub_key.public, public)
        self._mac_keys[(agency, key_id)] = key
        return key
