"""Key material: each agency has an Ed25519 signing key and an X25519 encryption key.

Private keys live only in the agency's connector. The hub holds agencies' public keys and
one X25519 key of its own, used only to check the hub MAC.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from onedoor.ids import AgencyId, KeyId

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw


def create_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable only by the owner (0600), in a 0700 directory if it makes one.

    Raises:
        FileExistsError: if ``path`` exists; an existing key is never overwritten.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return key.public_bytes(_RAW, _RAW_PUB)


@dataclass(frozen=True, slots=True)
class RecipientKey:
    """A recipient's current X25519 public key, which data keys are wrapped to."""

    agency: AgencyId
    key_id: KeyId
    public: X25519PublicKey
    raw: bytes = field(repr=False)

    @classmethod
    def from_raw(cls, agency: AgencyId, raw: bytes) -> RecipientKey:
        """Load a recipient key from its 32 raw bytes."""
        return cls(agency, KeyId.for_public_key(raw), X25519PublicKey.from_public_bytes(raw), raw)


@dataclass(frozen=True, slots=True)
class AgencyKeyPair:
    """An agency's private keys, as held by its connector."""

    agency: AgencyId
    signing: Ed25519PrivateKey = field(repr=False)
    encryption: X25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, agency: AgencyId) -> AgencyKeyPair:
        """Fresh keys for ``agency``."""
        return cls(agency, Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @property
    def signing_public(self) -> bytes:
        """Raw Ed25519 public key."""
        return raw_public(self.signing.public_key())

    @property
    def encryption_public(self) -> bytes:
        """Raw X25519 public key."""
        return raw_public(self.encryption.public_key())

    @property
    def signing_key_id(self) -> KeyId:
        """Key id of the signing key."""
        return KeyId.for_public_key(self.signing_public)

    @property
    def encryption_key_id(self) -> KeyId:
        """Key id of the encryption key."""
        return KeyId.for_public_key(self.encryption_public)

    def save(self, directory: Path, passphrase: bytes | None = None) -> None:
        """Write both keys as PKCS#8 PEM files readable only by the owner (0600).

        Args:
            directory: where ``signing.pem`` and ``encryption.pem`` go.
            passphrase: encrypts the files at rest when given.
        """
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        algorithm: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        for name, key in (("signing.pem", self.signing), ("encryption.pem", self.encryption)):
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm)
            path = directory / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)

    @classmethod
    def load(cls, agency: AgencyId, directory: Path, passphrase: bytes | None = None) -> AgencyKeyPair:
        """Read keys written by ``save``."""
        signing = serialization.load_pem_private_key((directory / "signing.pem").read_bytes(), passphrase)
        encryption = serialization.load_pem_private_key((directory / "encryption.pem").read_bytes(), passphrase)
        if not isinstance(signing, Ed25519PrivateKey) or not isinstance(encryption, X25519PrivateKey):
            raise TypeError("expected an Ed25519 signing key and an X25519 encryption key")
        return cls(agency, signing, encryption)


@dataclass(frozen=True, slots=True)
class HubKey:
    """The hub's own X25519 key: it keys the MAC that lets the hub authenticate senders cheaply."""

    private: X25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> HubKey:
        """A fresh hub key."""
        return cls(X25519PrivateKey.generate())

    @property
    def public(self) -> bytes:
        """Raw X25519 public key, published to connectors."""
        return raw_public(self.private.public_key())

    @classmethod
    def load_or_create(cls, path: Path) -> HubKey:
        """Load the hub key from ``path`` (PKCS#8 PEM), creating it 0600 on first use."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), None)
            if not isinstance(key, X25519PrivateKey):
                raise TypeError(f"{path} does not hold an X25519 key")
            return cls(key)
        hub = cls.generate()
        pem = hub.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        create_private_file(path, pem)
        return hub
