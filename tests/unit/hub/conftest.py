"""Unit fixtures for the hub: an in-memory SQLite session with every hub table."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import hub.agencies.models  # noqa: F401 - registers the agency tables in the metadata


def raw_public(private: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    """The raw 32 public-key bytes of a private key."""
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def new_signing_key() -> bytes:
    """A fresh raw Ed25519 public key."""
    return raw_public(Ed25519PrivateKey.generate())


def new_encryption_key() -> bytes:
    """A fresh raw X25519 public key."""
    return raw_public(X25519PrivateKey.generate())


def b64(raw: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
