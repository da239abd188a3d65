"""Opening: verify the sender's signature, unwrap the data key, decrypt the body."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onedoor.envelope.header import Header
from onedoor.envelope.keys import raw_public
from onedoor.envelope.reasons import EnvelopeRejected, Reason
from onedoor.envelope.seal import SIGNATURE_DOMAIN, WRAP_NONCE, wrap_key
from onedoor.envelope.wire import ParsedEnvelope, parse
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, KeyId


class SigningKeys(Protocol):
    """Where a recipient looks up a sender's Ed25519 public key."""

    def signing_key(self, agency: AgencyId, key_id: KeyId) -> Ed25519PublicKey | None:
        """The sender's public key with that id, if current or still within its overlap."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A verified, decrypted envelope."""

    header: Header
    body: bytes
    """The Avro-encoded body, to be decoded with the header's contract and version."""


def parse_header(value: bytes) -> tuple[ParsedEnvelope, Header]:
    """Parse an envelope and validate its header.

    Raises:
        EnvelopeRejected: ``envelope.malformed`` or ``envelope.unsupported_format``.
    """
    try:
        parsed = parse(value)
        return parsed, parsed.header()
    except ValidationFailed as exc:
        reason = Reason.UNSUPPORTED_FORMAT if exc.code == Reason.UNSUPPORTED_FORMAT else Reason.MALFORMED
        raise EnvelopeRejected(reason, exc.message) from None


def open_envelope(
    value: bytes,
    *,
    me: AgencyId,
    my_keys: Mapping[KeyId, X25519PrivateKey],
    senders: SigningKeys,
    now_ms: int | None = None,
) -> Opened:
    """Check an envelope addressed to ``me`` and return its plaintext body.

    Args:
        value: the envelope bytes from my inbox.
        me: my agency id.
        my_keys: my X25519 private keys by key id (more than one during a rotation overlap).
        senders: where senders' signing keys are looked up.
        now_ms: the time to judge expiry by (defaults to now).

    Raises:
        EnvelopeRejected: with a distinct reason for each failed check.
    """
    parsed, header = parse_header(value)
    if me not in header.recipients:
        raise EnvelopeRejected(Reason.NOT_ADDRESSED, f"envelope {header.message_id} is not addressed to {me}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if header.expires_at_ms <= now:
        raise EnvelopeRejected(Reason.EXPIRED, f"envelope {header.message_id} expired")
    signer = senders.signing_key(header.sender, header.sender_signing_key)
    if signer is None:
        raise EnvelopeRejected(
            Reason.SENDER_KEY_UNKNOWN, f"no current signing key {header.sender_signing_key} for {header.sender}"
        )
    try:
        signer.verify(parsed.signature, SIGNATURE_DOMAIN + parsed.signed_part)
    except InvalidSignature:
        raise EnvelopeRejected(Reason.SIGNATURE_INVALID, f"bad signature on {header.message_id}") from None
    mine = [w for w in parsed.wrapped_keys if w.recipient == me]
    if not mine:
        raise EnvelopeRejected(Reason.NOT_ADDRESSED, f"no data key wrapped for {me}")
    private = my_keys.get(KeyId(mine[0].key_id)) if KeyId.pattern.fullmatch(mine[0].key_id) else None
    if private is None:
        raise EnvelopeRejected(Reason.RECIPIENT_KEY_UNKNOWN, f"data key wrapped to a key {me} does not hold")
    try:
        ephemeral = X25519PublicKey.from_public_bytes(parsed.ephemeral_key)
        kek = wrap_key(private.exchange(ephemeral), parsed.ephemeral_key, raw_public(private.public_key()))
        data_key = AESGCM(kek).decrypt(WRAP_NONCE, mine[0].wrapped, parsed.header_bytes)
        body = AESGCM(data_key).decrypt(parsed.nonce, parsed.ciphertext, parsed.header_bytes)
    except (InvalidTag, ValueError):
        raise EnvelopeRejected(Reason.DECRYPT_FAILED, f"cannot decrypt {header.message_id}") from None
    return Opened(header=header, body=body)
