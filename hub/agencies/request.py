"""An agency's registration request: what ``onedoor connector init`` writes and the operator approves.

The request names the agency (id, kind, display name) and carries its two public keys and the
time it was made, signed with the new Ed25519 signing key itself: the signature proves the
requester holds the private half of *that* key (proof of possession) and that the request's
fields were not edited after it was signed. It does **not** prove the request came from the
agency: anyone can make a whole new, validly self-signed request with their own keys and swap it
in on the way to the operator (e-mail, a ticket, a USB stick). What binds the request to the
agency is out of band: ``onedoor connector init`` prints the signing key id, the agency reads it
to the operator over a known phone number, and ``onedoor agency approve --expect-signing-key``
refuses (``registration.signing_key_unexpected``) a request whose key id differs. The signed
bytes are a fixed domain prefix and the canonical JSON (sorted keys, no spaces, UTF-8) of every
field but ``signature``, so the request verifies from its own text with no other key.

Pure: no database, no HTTP. Refusals are ``ValidationFailed`` with stable ``registration.*``
codes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from hub.agencies.schemas import AgencyCreate, b64url
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import ValidationFailed
from onedoor.ids import KeyId

FORMAT: Final = "onedoor.registration-request/1"
"""The ``format`` field of every request this module writes, and the signature's domain."""
MAX_AGE: Final = timedelta(days=30)
"""An older request is stale: make a new one (``onedoor connector init`` again in a fresh directory)."""
FUTURE_SKEW: Final = timedelta(minutes=5)
"""How far in the future ``created_at`` may be (clock skew between the agency and the hub)."""

MALFORMED: Final = "registration.malformed"
BAD_SIGNATURE: Final = "registration.bad_signature"
STALE: Final = "registration.stale"
FROM_FUTURE: Final = "registration.from_future"
SIGNING_KEY_UNEXPECTED: Final = "registration.signing_key_unexpected"

SIGNED_FIELDS: Final = (
    "format",
    "agency_id",
    "kind",
    "display_name",
    "signing_public_key",
    "encryption_public_key",
    "created_at",
)


def _signed_bytes(fields: Mapping[str, Any]) -> bytes:
    canonical = json.dumps({k: fields[k] for k in SIGNED_FIELDS}, sort_keys=True, separators=(",", ":"))
    return FORMAT.encode() + b"\n" + canonical.encode()


def make_request(keys: AgencyKeyPair, *, kind: str, display_name: str, now: datetime | None = None) -> dict[str, Any]:
    """A signed registration request for ``keys``' agency (a JSON-ready dict)."""
    fields: dict[str, Any] = {
        "format": FORMAT,
        "agency_id": str(keys.agency),
        "kind": kind,
        "display_name": display_name,
        "signing_public_key": b64url(keys.signing_public),
        "encryption_public_key": b64url(keys.encryption_public),
        "created_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
    }
    signature = keys.signing.sign(_signed_bytes(fields))
    return {**fields, "signing_key_id": str(keys.signing_key_id), "signature": b64url(signature)}


def request_key_ids(document: object) -> tuple[KeyId, KeyId] | None:
    """The (signing, encryption) key ids of the public keys a request carries, computed from the keys
    themselves (not its ``signing_key_id`` field); ``None`` when they are not there to compute."""
    if not isinstance(document, dict):
        return None
    try:
        signing = _b64(document.get("signing_public_key"), "signing_public_key")
        encryption = _b64(document.get("encryption_public_key"), "encryption_public_key")
        return KeyId.for_public_key(signing), KeyId.for_public_key(encryption)
    except ValidationFailed:
        return None


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValidationFailed(MALFORMED, f"{what} must be base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValidationFailed(MALFORMED, f"{what} is not base64url") from None


def verify_request(document: object, *, now: datetime | None = None) -> AgencyCreate:
    """Check a request's form, signature and age; the registration it asks for.

    Raises:
        ValidationFailed: ``registration.malformed`` (not a request, a field missing or invalid),
            ``registration.bad_signature`` (changed since it was signed, or not signed by its own key),
            ``registration.stale`` (older than ``MAX_AGE``), ``registration.from_future``.
    """
    if not isinstance(document, dict):
        raise ValidationFailed(MALFORMED, "a registration request is a JSON object")
    missing = [name for name in (*SIGNED_FIELDS, "signature") if name not in document]
    if missing:
        raise ValidationFailed(MALFORMED, "the registration request lacks " + ", ".join(missing))
    if document["format"] != FORMAT:
        raise ValidationFailed(MALFORMED, f"not a {FORMAT} registration request")
    if not all(isinstance(document[name], str) for name in SIGNED_FIELDS):
        raise ValidationFailed(MALFORMED, "every field of a registration request is text")
    raw_key = _b64(document["signing_public_key"], "signing_public_key")
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(
            _b64(document["signature"], "signature"), _signed_bytes(document)
        )
    except (InvalidSignature, ValueError):
        raise ValidationFailed(
            BAD_SIGNATURE,
            "the registration request's signature does not verify with the signing key it names: "
            "it was changed after it was made, or not made by the holder of that key",
        ) from None
    try:
        created = datetime.fromisoformat(document["created_at"])
    except ValueError:
        raise ValidationFailed(MALFORMED, "created_at is not an ISO 8601 time") from None
    if created.tzinfo is None:
        raise ValidationFailed(MALFORMED, "created_at must carry a time zone")
    moment = now or datetime.now(UTC)
    if created > moment + FUTURE_SKEW:
        raise ValidationFailed(FROM_FUTURE, "the registration request was made in the future: check the clocks")
    if moment - created > MAX_AGE:
        raise ValidationFailed(
            STALE, f"the registration request is older than {MAX_AGE.days} days: ask the agency for a new one"
        )
    try:
        return AgencyCreate(
            id=document["agency_id"],
            display_name=document["display_name"],
            kind=document["kind"],
            signing_public_key=document["signing_public_key"],
            encryption_public_key=document["encryption_public_key"],
        )
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False))
        raise ValidationFailed(MALFORMED, f"the registration request has invalid fields: {where}") from None
