"""The public-key directory as a connector sees it: who exists, and their public keys.

Fetched from the hub's ``GET /directory``; the hub publishes only public keys.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from onedoor.envelope.keys import RecipientKey
from onedoor.envelope.reasons import EnvelopeRejected, Reason
from onedoor.errors import Unavailable
from onedoor.ids import AgencyId, KeyId


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class AgencyPublicKeys:
    """One agency's public keys."""

    agency: AgencyId
    active: bool
    signing: Mapping[KeyId, Ed25519PublicKey]
    """Signing keys a recipient accepts (current, and retired within the overlap)."""
    encryption: RecipientKey
    """The current encryption key that data keys are wrapped to."""
    signing_not_after: Mapping[KeyId, datetime] = field(default_factory=dict)
    """When a retired signing key stops being accepted."""


@dataclass(frozen=True, slots=True)
class PublicDirectory:
    """Every agency's public keys and the hub's MAC key."""

    agencies: Mapping[AgencyId, AgencyPublicKeys]
    hub_public: bytes
    """The hub's X25519 public key, for the hub MAC."""

    def signing_key(self, agency: AgencyId, key_id: KeyId) -> Ed25519PublicKey | None:
        """The sender's signing key with that id, if the directory lists it."""
        entry = self.agencies.get(agency)
        if entry is None:
            return None
        until = entry.signing_not_after.get(key_id)
        if until is not None and datetime.now(UTC) >= until:
            return None
        return entry.signing.get(key_id)

    def recipient(self, agency: AgencyId) -> RecipientKey:
        """The key to seal to for ``agency``.

        Raises:
            EnvelopeRejected: ``recipient.unknown`` when it is not an active agency.
        """
        entry = self.agencies.get(agency)
        if entry is None or not entry.active:
            raise EnvelopeRejected(Reason.RECIPIENT_UNKNOWN, f"{agency} is not an active registered agency")
        return entry.encryption

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PublicDirectory:
        """Build from the hub's ``GET /directory`` JSON (it lists active agencies only)."""
        agencies: dict[AgencyId, AgencyPublicKeys] = {}
        for item in document["agencies"]:
            agency = AgencyId(item["id"])
            signing = {
                KeyId(k["key_id"]): Ed25519PublicKey.from_public_bytes(_b64(k["public_key"]))
                for k in item["signing_keys"]
            }
            not_after = {
                KeyId(k["key_id"]): datetime.fromisoformat(k["not_after"])
                for k in item["signing_keys"]
                if k.get("not_after")
            }
            current = [k for k in item["encryption_keys"] if k["status"] == "current"]
            if not current:
                continue  # nothing to seal to: as good as absent
            agencies[agency] = AgencyPublicKeys(
                agency=agency,
                active=True,
                signing=signing,
                signing_not_after=not_after,
                encryption=RecipientKey.from_raw(agency, _b64(current[0]["public_key"])),
            )
        return cls(agencies=agencies, hub_public=_b64(document["hub_public_key"]))


async def fetch_directory(hub_url: str, *, client: httpx.AsyncClient | None = None) -> PublicDirectory:
    """Fetch the directory from a hub.

    Raises:
        Unavailable: ``hub.unreachable`` when the hub does not answer.
    """
    own = client is None
    http = client or httpx.AsyncClient(base_url=hub_url, timeout=10.0)
    try:
        response = await http.get("/directory")
        response.raise_for_status()
        return PublicDirectory.from_document(response.json())
    except httpx.HTTPError as exc:
        raise Unavailable("hub.unreachable", f"cannot fetch the directory from {hub_url}: {exc}") from None
    finally:
        if own:
            await http.aclose()
