"""Sealing: encrypt the body to every recipient, sign, and MAC for the hub."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onedoor.envelope import hubmac
from onedoor.envelope.header import Header
from onedoor.envelope.keys import AgencyKeyPair, RecipientKey, raw_public
from onedoor.envelope.reasons import Reason
from onedoor.envelope.wire import WrappedKey, encode_header, encode_unsigned
from onedoor.errors import ValidationFailed

SIGNATURE_DOMAIN = b"onedoor/v1/envelope-signature\x00"
_WRAP_INFO = b"onedoor/v1/wrap"
# Each key-encryption key is derived from a fresh ephemeral key and used exactly once,
# so a fixed nonce is safe (as in HPKE's single-shot mode).
WRAP_NONCE = bytes(12)


def wrap_key(shared_secret: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    """The key-encryption key for one recipient: HKDF-SHA256 over the X25519 shared secret."""
    info = _WRAP_INFO + ephemeral_public + recipient_public
    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(shared_secret)


def seal(
    *,
    header: Header,
    body: bytes,
    sender: AgencyKeyPair,
    recipients: Sequence[RecipientKey],
    hub_mac_key: bytes,
) -> bytes:
    """Seal an Avro-encoded body into envelope bytes.

    Args:
        header: routing header; its recipients must be exactly ``recipients``' agencies.
        body: the Avro-encoded message body (plaintext; it never leaves this function clear).
        sender: the sending agency's private keys.
        recipients: each recipient's current X25519 key.
        hub_mac_key: from ``hubmac.sender_mac_key``, computed once per sender key.

    Returns:
        The envelope as it goes on the sender's outbound topic.

    Raises:
        ValidationFailed: the header does not match the sender or the recipients.
    """
    if (
        header.sender != sender.agency
        or header.sender_signing_key != sender.signing_key_id
        or header.sender_encryption_key != sender.encryption_key_id
    ):
        raise ValidationFailed(Reason.SENDER_MISMATCH, "header sender and key ids do not match the sender's keys")
    if tuple(r.agency for r in recipients) != header.recipients:
        raise ValidationFailed(Reason.KEYS_MISMATCH, "recipient keys must match header recipients in order")
    header_bytes = encode_header(header)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, body, header_bytes)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = raw_public(ephemeral.public_key())
    wrapped = [
        WrappedKey(
            recipient=str(r.agency),
            key_id=str(r.key_id),
            wrapped=AESGCM(wrap_key(ephemeral.exchange(r.public), ephemeral_public, r.raw)).encrypt(
                WRAP_NONCE, data_key, header_bytes
            ),
        )
        for r in recipients
    ]
    unsigned = encode_unsigned(header_bytes, ephemeral_public, wrapped, nonce, ciphertext)
    signed = unsigned + sender.signing.sign(SIGNATURE_DOMAIN + unsigned)
    return signed + hubmac.compute(hub_mac_key, signed)
