"""The agency directory: a frozen, database-free view of who is active and which keys to trust.

The router loads one at start and whenever the registry changes; a connector builds one from
``GET /directory``. Lookups are dictionary hits: no I/O, no locks, safe to share across tasks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from hub.agencies.enums import AgencyKind, KeyUse
from onedoor.errors import NotFound
from onedoor.ids import AgencyId, KeyId


@dataclass(frozen=True, slots=True)
class DirectoryKey:
    """A public key that is trusted now (current) or for a while longer (retired)."""

    key_id: KeyId
    """Fingerprint of ``public_key``."""
    use: KeyUse
    """Signing (Ed25519) or encryption (X25519)."""
    public_key: bytes
    """Raw 32 bytes."""
    current: bool
    """True for the one key to sign or encrypt with; False for a retired key still accepted."""
    not_after: datetime | None
    """When the key stops being trusted; None means until it is retired or revoked."""

    def valid_at(self, at: datetime) -> bool:
        """Whether the key may be used at instant ``at``."""
        return self.not_after is None or at < self.not_after


@dataclass(frozen=True, slots=True)
class AgencyEntry:
    """One agency in the directory."""

    agency_id: AgencyId
    """The agency's slug."""
    display_name: str
    """Human-readable name, for operators and audit views."""
    kind: AgencyKind
    """Police, children's services, ..."""
    active: bool
    """False while the agency is suspended: the hub neither accepts from it nor delivers to it."""
    signing_keys: Mapping[KeyId, DirectoryKey]
    """Ed25519 keys that verify this agency's signatures (current and retired-but-valid)."""
    encryption_keys: Mapping[KeyId, DirectoryKey]
    """X25519 keys envelopes to this agency may be sealed to (current and retired-but-valid)."""

    def keys(self, use: KeyUse) -> Mapping[KeyId, DirectoryKey]:
        """The trusted keys for ``use``."""
        return self.signing_keys if use is KeyUse.SIGNING else self.encryption_keys

    def current(self, use: KeyUse) -> DirectoryKey | None:
        """The current key for ``use``, if the agency has one."""
        return next((k for k in self.keys(use).values() if k.current), None)


def _fingerprint(entries: Iterable[AgencyEntry]) -> str:
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.agency_id):
        digest.update(f"{entry.agency_id}|{entry.active}|{entry.kind}|{entry.display_name}\n".encode())
        for key in sorted([*entry.signing_keys.values(), *entry.encryption_keys.values()], key=lambda k: k.key_id):
            not_after = key.not_after.isoformat() if key.not_after else "-"
            digest.update(f" {key.key_id}|{key.use}|{key.current}|{not_after}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class AgencyDirectory:
    """Every known agency's status and trusted public keys, by id.

    Key lookups ignore the agency's status: ask ``is_active`` separately so a suspended sender
    and an unknown key get different reason codes.
    """

    generated_at: datetime
    """When the snapshot was taken."""
    agencies: Mapping[AgencyId, AgencyEntry]
    """Every agency the snapshot holds, active or suspended."""
    fingerprint: str = field(init=False)
    """SHA-256 over the content (not ``generated_at``): equal fingerprints mean nothing changed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", _fingerprint(self.agencies.values()))

    @classmethod
    def build(cls, *, generated_at: datetime, entries: Iterable[AgencyEntry]) -> AgencyDirectory:
        """Assemble a directory; its mappings are read-only."""
        frozen = [
            AgencyEntry(
                agency_id=e.agency_id,
                display_name=e.display_name,
                kind=e.kind,
                active=e.active,
                signing_keys=MappingProxyType(dict(e.signing_keys)),
                encryption_keys=MappingProxyType(dict(e.encryption_keys)),
            )
            for e in entries
        ]
        return cls(generated_at=generated_at, agencies=MappingProxyType({e.agency_id: e for e in frozen}))

    @classmethod
    def empty(cls) -> AgencyDirectory:
        """A directory that knows nobody (before the first load)."""
        return cls.build(generated_at=datetime.now(UTC), entries=[])

    def get(self, agency: AgencyId) -> AgencyEntry | None:
        """The entry for ``agency``, or None if it is not registered."""
        return self.agencies.get(agency)

    def is_known(self, agency: AgencyId) -> bool:
        """Whether ``agency`` is registered at all."""
        return agency in self.agencies

    def is_active(self, agency: AgencyId) -> bool:
        """Whether ``agency`` is registered and not suspended."""
        entry = self.agencies.get(agency)
        return entry is not None and entry.active

    def active_agencies(self) -> frozenset[AgencyId]:
        """The ids of every active agency."""
        return frozenset(a for a, e in self.agencies.items() if e.active)

    def signing_key(self, agency: AgencyId, key_id: KeyId, *, at: datetime | None = None) -> bytes | None:
        """The Ed25519 key ``key_id`` of ``agency`` if it is trusted at ``at`` (default now)."""
        return self._key(agency, KeyUse.SIGNING, key_id, at)

    def encryption_key(self, agency: AgencyId, key_id: KeyId, *, at: datetime | None = None) -> bytes | None:
        """The X25519 key ``key_id`` of ``agency`` if it is trusted at ``at`` (default now)."""
        return self._key(agency, KeyUse.ENCRYPTION, key_id, at)

    def current_signing_key(self, agency: AgencyId) -> tuple[KeyId, bytes]:
        """The key ``agency`` signs with now.

        Raises:
            NotFound: ``agency.not_found`` or ``agency.no_current_key``.
        """
        return self._current(agency, KeyUse.SIGNING)

    def current_encryption_key(self, agency: AgencyId) -> tuple[KeyId, bytes]:
        """The key to seal an envelope to ``agency`` with now.

        Raises:
            NotFound: ``agency.not_found`` or ``agency.no_current_key``.
        """
        return self._current(agency, KeyUse.ENCRYPTION)

    def _key(self, agency: AgencyId, use: KeyUse, key_id: KeyId, at: datetime | None) -> bytes | None:
        entry = self.agencies.get(agency)
        key = entry.keys(use).get(key_id) if entry is not None else None
        if key is None or not key.valid_at(at or datetime.now(UTC)):
            return None
        return key.public_key

    def _current(self, agency: AgencyId, use: KeyUse) -> tuple[KeyId, bytes]:
        entry = self.agencies.get(agency)
        if entry is None:
            raise NotFound("agency.not_found", f"no agency {agency}")
        key = entry.current(use)
        if key is None or not key.valid_at(datetime.now(UTC)):
            raise NotFound("agency.no_current_key", f"agency {agency} has no current {use} key")
        return key.key_id, key.public_key
