"""The hub MAC: how the hub authenticates a sender at memory speed.

An Ed25519 verification costs ~145 µs here, which would cap one router near 5,000
envelopes/s. Instead each sender also appends an HMAC-SHA256 keyed by a static X25519
agreement between its encryption key and the hub's key. Both sides derive the same key once
and cache it, so the hub's per-message cost is one HMAC (~1-2 µs for a few KiB). The
signature stays for recipients, who need non-repudiation the hub cannot forge.
See docs/decisions/0002-hub-authenticates-by-mac.md.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"onedoor/v1/hub-mac"


def derive_mac_key(shared_secret: bytes, sender_public: bytes, hub_public: bytes) -> bytes:
    """HKDF-SHA256 of an X25519 shared secret, bound to both public keys."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=_INFO + sender_public + hub_public).derive(shared_secret)


def sender_mac_key(sender_private: X25519PrivateKey, sender_public: bytes, hub_public: bytes) -> bytes:
    """The MAC key as the sender computes it."""
    shared = sender_private.exchange(X25519PublicKey.from_public_bytes(hub_public))
    return derive_mac_key(shared, sender_public, hub_public)


def hub_mac_key(hub_private: X25519PrivateKey, hub_public: bytes, sender_public: bytes) -> bytes:
    """The MAC key as the hub computes it."""
    shared = hub_private.exchange(X25519PublicKey.from_public_bytes(sender_public))
    return derive_mac_key(shared, sender_public, hub_public)


def compute(key: bytes, maced_part: bytes | memoryview) -> bytes:
    """HMAC-SHA256 over the bytes before the MAC."""
    return hmac.digest(key, maced_part, hashlib.sha256)


def verify(key: bytes, maced_part: bytes | memoryview, mac: bytes | memoryview) -> bool:
    """True when ``mac`` is right, compared in constant time."""
    return hmac.compare_digest(hmac.digest(key, maced_part, hashlib.sha256), bytes(mac))
