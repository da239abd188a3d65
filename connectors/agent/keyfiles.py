"""The agency's private key files on disk: current keys, previous encryption keys, passphrase rules.

Layout of ``keys_dir`` (directories 0700, files 0600, private keys PKCS#8 PEM encrypted with
the passphrase from ``ONEDOOR_CONNECTOR_KEYS_PASSPHRASE``)::

    signing.pem, encryption.pem           the current keys (what the hub lists as current)
    previous/<key id>.pem                 an encryption key replaced by a rotation
    previous/<key id>.json                {"not_after": ...}: when the hub stops accepting it
    pending/                              new keys made by a rotation the hub has not accepted yet

A previous encryption key is loaded (``Connector(old_keys=...)``) until its ``not_after`` plus
``INBOX_SLACK``: messages sealed to it during the overlap still open, even if they wait in the
inbox a while; an older one is no longer loaded (its file stays until someone deletes it).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from onedoor.envelope.keys import AgencyKeyPair, create_private_file, raw_public
from onedoor.errors import ValidationFailed
from onedoor.files import write_atomically
from onedoor.ids import AgencyId, KeyId
from onedoor.logging import get_logger

log = get_logger(__name__)

MIN_PASSPHRASE_CHARS: Final = 12
PASSPHRASE_ENV: Final = "ONEDOOR_CONNECTOR_KEYS_PASSPHRASE"  # noqa: S105 - a name or an error code, not a secret
WEAK_PASSPHRASE: Final = "connector.weak_passphrase"  # noqa: S105 - a name or an error code, not a secret
KEYS_PASSPHRASE: Final = "connector.keys_passphrase"  # noqa: S105 - a name or an error code, not a secret
KEYS_UNREADABLE: Final = "connector.keys_unreadable"
KEYS_EXIST: Final = "connector.keys_exist"
INBOX_SLACK: Final = timedelta(hours=24)
"""How long after the hub's ``not_after`` a previous encryption key is still loaded (inbox backlog)."""
SIGNING: Final = "signing.pem"
ENCRYPTION: Final = "encryption.pem"
PREVIOUS: Final = "previous"
PENDING: Final = "pending"

PrivateKey = Ed25519PrivateKey | X25519PrivateKey


def check_passphrase(passphrase: str) -> bytes:
    """The passphrase as bytes, if it is long enough.

    Raises:
        ValidationFailed: ``connector.weak_passphrase``.
    """
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise ValidationFailed(
            WEAK_PASSPHRASE, f"the keys passphrase must have at least {MIN_PASSPHRASE_CHARS} characters"
        )
    return passphrase.encode()


def pem(key: PrivateKey, passphrase: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted when ``passphrase`` is given."""
    algorithm: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm)


def write_new(path: Path, key: PrivateKey, passphrase: bytes | None) -> None:
    """Write ``key`` to a new 0600 file (0700 directory); never overwrite.

    Raises:
        ValidationFailed: ``connector.keys_exist``.
    """
    try:
        create_private_file(path, pem(key, passphrase))
    except FileExistsError:
        raise ValidationFailed(KEYS_EXIST, f"{path} exists; a key file is never overwritten") from None


def save_new_pair(keys: AgencyKeyPair, directory: Path, passphrase: bytes | None) -> None:
    """Write a fresh pair as ``signing.pem`` and ``encryption.pem``, refusing if either exists."""
    for name in (SIGNING, ENCRYPTION):
        if (directory / name).exists():
            raise ValidationFailed(KEYS_EXIST, f"{directory / name} exists; existing keys are never overwritten")
    write_new(directory / SIGNING, keys.signing, passphrase)
    write_new(directory / ENCRYPTION, keys.encryption, passphrase)


def load_private(path: Path, passphrase: bytes | None) -> PrivateKey:
    """One private key file, with errors in words.

    Raises:
        ValidationFailed: ``connector.keys_passphrase`` (wrong, missing or needless passphrase),
            ``connector.keys_unreadable`` (missing file, not a key).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(KEYS_UNREADABLE, f"cannot read the key file {path}: {exc.strerror}") from None
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    if encrypted and not passphrase:
        raise ValidationFailed(
            KEYS_PASSPHRASE, f"the key file {path} is encrypted: set {PASSPHRASE_ENV} to its passphrase"
        )
    if not encrypted and passphrase:
        raise ValidationFailed(
            KEYS_PASSPHRASE, f"the key file {path} is not encrypted, but {PASSPHRASE_ENV} is set: unset it"
        )
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except (ValueError, TypeError):
        if encrypted:
            raise ValidationFailed(KEYS_PASSPHRASE, f"wrong passphrase for {path}: check {PASSPHRASE_ENV}") from None
        raise ValidationFailed(KEYS_UNREADABLE, f"{path} is not a private key file") from None
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise ValidationFailed(KEYS_UNREADABLE, f"{path} holds neither an Ed25519 nor an X25519 key")
    return key


def load_pair(agency: AgencyId, directory: Path, passphrase: bytes | None) -> AgencyKeyPair:
    """The current pair from ``signing.pem`` and ``encryption.pem``.

    Raises:
        ValidationFailed: ``connector.keys_passphrase`` or ``connector.keys_unreadable``.
    """
    signing = load_private(directory / SIGNING, passphrase)
    encryption = load_private(directory / ENCRYPTION, passphrase)
    if not isinstance(signing, Ed25519PrivateKey) or not isinstance(encryption, X25519PrivateKey):
        raise ValidationFailed(
            KEYS_UNREADABLE, f"{directory} must hold an Ed25519 {SIGNING} and an X25519 {ENCRYPTION}"
        )
    return AgencyKeyPair(agency, signing, encryption)


def key_id_of(key: PrivateKey) -> KeyId:
    """The key id of a private key's public half."""
    return KeyId.for_public_key(raw_public(key.public_key()))


def keep_previous(keys_dir: Path, key: X25519PrivateKey, not_after: datetime, passphrase: bytes | None) -> Path:
    """Keep a replaced encryption key as ``previous/<key id>.pem`` with its ``not_after``."""
    key_id = key_id_of(key)
    folder = keys_dir / PREVIOUS
    path = folder / f"{key_id}.pem"
    if not path.exists():
        write_new(path, key, passphrase)
    meta = folder / f"{key_id}.json"
    # A temporary file then an atomic rename: the key's not_after is never missing (a reader in
    # between would skip the key and fail to open what was sealed to it).
    write_atomically(meta, json.dumps({"not_after": not_after.astimezone(UTC).isoformat()}).encode())
    return path


def load_previous(
    keys_dir: Path, passphrase: bytes | None, *, now: datetime | None = None, slack: timedelta = INBOX_SLACK
) -> dict[KeyId, X25519PrivateKey]:
    """Previous encryption keys still within their overlap (``not_after + slack`` is in the future).

    A key without readable ``not_after`` is not loaded (and logged by key id); a key that does
    not decrypt raises like ``load_private``.
    """
    folder = keys_dir / PREVIOUS
    if not folder.is_dir():
        return {}
    moment = now or datetime.now(UTC)
    found: dict[KeyId, X25519PrivateKey] = {}
    for path in sorted(folder.glob("*.pem")):
        try:
            meta = json.loads((folder / f"{path.stem}.json").read_text(encoding="utf-8"))
            not_after = datetime.fromisoformat(str(meta["not_after"]))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("connector.previous_key_skipped", key_id=path.stem, why="no readable not_after")
            continue
        if moment >= not_after + slack:
            continue  # past the overlap: dropped
        key = load_private(path, passphrase)
        if isinstance(key, X25519PrivateKey):
            found[key_id_of(key)] = key
    return found


def replace_current(keys_dir: Path, name: str, new_file: Path) -> None:
    """Make ``new_file`` the current ``name`` (atomic rename within the same file system)."""
    os.replace(new_file, keys_dir / name)


def load_decryption_keys(
    agency: AgencyId, keys_dir: Path, passphrase: bytes | None, *, now: datetime | None = None
) -> tuple[AgencyKeyPair, dict[KeyId, X25519PrivateKey]]:
    """The current pair, and every other encryption key that may still open a message.

    The others are the previous keys within their overlap and a pending key (a rotation
    announced to the hub whose files are not swapped yet: senders may seal to it already).
    """
    pair = load_pair(agency, keys_dir, passphrase)
    others = load_previous(keys_dir, passphrase, now=now)
    pending = keys_dir / PENDING / ENCRYPTION
    if pending.exists():
        key = load_private(pending, passphrase)
        if isinstance(key, X25519PrivateKey):
            others[key_id_of(key)] = key
    others.pop(pair.encryption_key_id, None)
    return pair, others
