"""Signed checkpoints of the audit chain, and the hub's Ed25519 audit key that signs them.

The key lives at ``<home>/hub/audit-key.pem`` (PKCS#8 PEM, mode 0600), made on first use like
the development issuer's key. Its public half (``onedoor audit public-key``) is all a verifier
needs: a checkpoint says "the chain had this hash at this seq at this time", and nobody
without the private key can sign a different one.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.audit import chain
from hub.audit.models import AuditChainHead, AuditCheckpoint
from onedoor.envelope.keys import create_private_file, raw_public
from onedoor.errors import ValidationFailed
from onedoor.ids import KeyId
from onedoor.logging import get_logger
from onedoor.settings import Settings

log = get_logger(__name__)


def audit_key_path(settings: Settings) -> Path:
    """Where this hub home keeps its audit signing key."""
    return settings.home / "hub" / "audit-key.pem"


def key_id(public: Ed25519PublicKey) -> str:
    """The id of an audit public key (``k1_`` + 32 hex chars of SHA-256 over its raw bytes)."""
    return str(KeyId.for_public_key(raw_public(public)))


def _read_private(path: Path) -> Ed25519PrivateKey:
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ValidationFailed("settings.audit_key_unsafe", f"{path} is readable by others; chmod 600 it")
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), None)
    except (ValueError, TypeError):
        loaded = None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValidationFailed("settings.audit_key_unusable", f"{path} does not hold an unencrypted Ed25519 key")
    return loaded


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The audit signing key at ``path``, made (0600, in a 0700 directory) on first use.

    Raises:
        ValidationFailed: ``settings.audit_key_unsafe`` if the file is open to others,
            ``settings.audit_key_unusable`` if it holds no Ed25519 private key.
    """
    if path.exists():
        return _read_private(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        create_private_file(path, pem)
    except FileExistsError:
        return _read_private(path)  # another process made it first: use theirs
    log.info("audit.key_created", key_id=key_id(key.public_key()))
    return key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    """The public half of ``key`` as a SubjectPublicKeyInfo PEM."""
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An audit public key from a PEM file (a public key, or a private key whose public half is used).

    Raises:
        ValidationFailed: ``audit.public_key_unusable`` if the file cannot be read or holds no Ed25519 key.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed("audit.public_key_unusable", f"cannot read {path}: {exc.strerror}") from None
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            public = _read_private(path).public_key()
        except ValidationFailed:
            public = None
    if not isinstance(public, Ed25519PublicKey):
        raise ValidationFailed("audit.public_key_unusable", f"{path} does not hold an Ed25519 public key")
    return public


@dataclass(frozen=True, slots=True)
class SignatureChecker:
    """Checks checkpoint signatures against trusted audit public keys, by key id."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def of(cls, *publics: Ed25519PublicKey) -> SignatureChecker:
        """A checker trusting ``publics``."""
        return cls({key_id(p): p for p in publics})

    def __call__(self, checkpoint: chain.Checkpoint) -> bool:
        public = self.keys.get(checkpoint.key_id)
        if public is None:
            return False
        payload = chain.checkpoint_payload(checkpoint.seq, checkpoint.row_hash, checkpoint.at, checkpoint.key_id)
        try:
            public.verify(bytes.fromhex(checkpoint.signature), payload)
        except (InvalidSignature, ValueError):
            return False
        return True


def sign(key: Ed25519PrivateKey, seq: int, row_hash: str, at: datetime) -> chain.Checkpoint:
    """A checkpoint of the chain at ``seq``/``row_hash``, signed now-ish (``at``)."""
    kid = key_id(key.public_key())
    at = chain.utc(at)
    signature = key.sign(chain.checkpoint_payload(seq, row_hash, at, kid)).hex()
    return chain.Checkpoint(seq=seq, row_hash=row_hash, at=at, key_id=kid, signature=signature)


def last_checkpoint(session: Session) -> AuditCheckpoint | None:
    """The newest checkpoint, if any."""
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()


def write_checkpoint(
    factory: sessionmaker[Session], key: Ed25519PrivateKey, *, only_if_moved: bool = True, now: datetime | None = None
) -> chain.Checkpoint | None:
    """Sign the chain head and store the checkpoint; ``None`` if the chain is empty or (``only_if_moved``) unchanged.

    The head is read, not locked: a checkpoint names a committed state, and appends go on meanwhile.
    """
    with factory() as session, session.begin():
        head = session.get(AuditChainHead, 1)
        if head is None or head.seq == 0:
            return None
        last = last_checkpoint(session)
        if only_if_moved and last is not None and last.seq == head.seq:
            return None
        checkpoint = sign(key, head.seq, head.row_hash, now or datetime.now(UTC))
        session.add(
            AuditCheckpoint(
                seq=checkpoint.seq,
                row_hash=checkpoint.row_hash,
                at=checkpoint.at,
                key_id=checkpoint.key_id,
                signature=checkpoint.signature,
            )
        )
    log.info("audit.checkpoint", seq=checkpoint.seq, key_id=checkpoint.key_id)
    return checkpoint
