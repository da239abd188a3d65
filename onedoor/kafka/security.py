"""Broker client credentials (SASL/SCRAM), and sealing a broker password to an agency's key.

``ClientCredentials`` is the one value every Kafka client of OneDoor is built from when the
broker is secured: :func:`aiokafka_options` spreads it into an aiokafka producer, consumer or
admin client, :meth:`ClientCredentials.kafka_python_options` into kafka-python's admin client.
``None`` means PLAINTEXT, as before the broker was secured. The password is a ``SecretStr``: it
is never in a ``repr``, a ``str`` or a log line. With a ``ca_file`` (the broker's CA certificate,
``onedoor.kafka.tls``) the client speaks SASL_SSL: TLS 1.2+, the broker's certificate chain
verified against that CA only and its host name checked; without one, SASL_PLAINTEXT.

A password the hub hands an agency crosses the wire sealed to the agency's registered X25519
encryption key (:func:`seal_secret`): the envelope's own wrapping (ephemeral X25519, HKDF-SHA256,
AES-256-GCM), with the agency and the username bound in as associated data. The hub keeps no copy.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from onedoor.envelope.keys import raw_public
from onedoor.envelope.seal import WRAP_NONCE, wrap_key
from onedoor.errors import ValidationFailed
from onedoor.files import read_secret_line, write_atomically
from onedoor.kafka.tls import client_context

Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]
DEFAULT_MECHANISM: Final[Mechanism] = "SCRAM-SHA-512"
PASSWORD_FILE: Final = "kafka.password_file"  # noqa: S105 - an error code, not a secret
SEALED_INVALID: Final = "broker.sealed_invalid"
_SEAL_DOMAIN: Final = b"onedoor/v1/broker-credential\x00"
_MIN_PASSWORD_CHARS: Final = 16


def new_password() -> SecretStr:
    """A fresh random SCRAM password: 43 URL-safe characters (256 bits), safe in JAAS and ``--add-scram``."""
    return SecretStr(secrets.token_urlsafe(32))


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """Who a Kafka client is to a secured broker: a SCRAM user and its password."""

    username: str
    """The SCRAM user, e.g. ``agency-met`` (the broker's principal is ``User:<username>``)."""
    password: SecretStr = field(repr=False)
    """Never printed: ``SecretStr`` shows ``**********``."""
    mechanism: Mechanism = DEFAULT_MECHANISM
    """The SASL mechanism the broker's client listener enables."""
    ca_file: Path | None = None
    """The broker's CA certificate (PEM): set, the client speaks SASL_SSL and trusts only it."""

    def __post_init__(self) -> None:
        if not self.username or any(c in self.username for c in ' ,=[]"\n'):
            raise ValidationFailed(
                "kafka.username_invalid", "a broker username is non-empty, without , = [ ] or quotes"
            )

    def __str__(self) -> str:
        return f"{self.username} ({self.mechanism}{', TLS' if self.ca_file is not None else ''})"

    @property
    def security_protocol(self) -> str:
        """``SASL_SSL`` with a CA file, else ``SASL_PLAINTEXT``."""
        return "SASL_PLAINTEXT" if self.ca_file is None else "SASL_SSL"

    @property
    def principal(self) -> str:
        """The broker's name for this user in ACLs: ``User:<username>``."""
        return f"User:{self.username}"

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``/``AIOKafkaAdminClient``.

        Raises:
            ValidationFailed: ``kafka.ca_file`` when the CA file is set but unusable.
        """
        options: dict[str, Any] = {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password.get_secret_value(),
        }
        if self.ca_file is not None:
            options["ssl_context"] = client_context(self.ca_file)
        return options

    def kafka_python_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's ``KafkaAdminClient`` (and its other clients).

        The same as aiokafka's, except that kafka-python checks the host name only when asked.
        """
        options = self.aiokafka_options()
        if self.ca_file is not None:
            options["ssl_check_hostname"] = True
        return options

    @classmethod
    def from_file(
        cls, username: str, path: Path, mechanism: Mechanism = DEFAULT_MECHANISM, *, ca_file: Path | None = None
    ) -> ClientCredentials:
        """Credentials whose password is the first line of ``path`` (mode 0600); TLS with ``ca_file``.

        Raises:
            ValidationFailed: ``kafka.password_file`` when the file cannot be read, is open to
                others or is too short; the message never holds the password.
        """
        return cls(username, read_password_file(path), mechanism, ca_file)


def aiokafka_options(credentials: ClientCredentials | None) -> dict[str, Any]:
    """``credentials``' aiokafka keyword arguments; none at all for ``None`` (PLAINTEXT, the default)."""
    return {} if credentials is None else credentials.aiokafka_options()


def credentials_from(
    username: str | None, password_file: Path | None, ca_file: Path | None = None
) -> ClientCredentials | None:
    """Credentials from a settings pair, or ``None`` when neither is set (PLAINTEXT); SASL_SSL with ``ca_file``.

    Raises:
        ValidationFailed: ``kafka.password_file`` when only one of the two is set, or the file is unusable.
    """
    if username is None and password_file is None:
        return None
    if username is None or password_file is None:
        raise ValidationFailed(PASSWORD_FILE, "set both the broker username and its password file, or neither")
    if ca_file is not None:
        client_context(ca_file)  # fail now, with the file's name, rather than at the first connection
    return ClientCredentials.from_file(username, password_file, ca_file=ca_file)


def read_password_file(path: Path) -> SecretStr:
    """The password on the first line of ``path``, which must be mode 0600.

    Raises:
        ValidationFailed: ``kafka.password_file``; the message never holds the password.
    """
    return SecretStr(read_secret_line(path, code=PASSWORD_FILE, what="broker password", min_chars=_MIN_PASSWORD_CHARS))


def write_password_file(path: Path, password: SecretStr) -> None:
    """Write ``password`` to ``path`` atomically, mode 0600 (replacing an older one), in a 0700 directory if new."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, (password.get_secret_value() + "\n").encode())


# --- sealing a password to an agency's encryption key -------------------------------------------


def _aad(agency: str, username: str) -> bytes:
    return _SEAL_DOMAIN + agency.encode() + b"\x00" + username.encode()


def seal_secret(recipient_public: bytes, secret: SecretStr, *, agency: str, username: str) -> str:
    """Seal ``secret`` to an X25519 public key; base64url text of ``ephemeral public || ciphertext``.

    The key-encryption key is derived exactly as an envelope's (``onedoor.envelope.seal.wrap_key``)
    from a fresh ephemeral key, so the fixed nonce is used once per key; the agency and the
    username are authenticated as associated data, so a sealed password cannot be passed off
    as another user's.
    """
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    key = wrap_key(shared, ephemeral_public, recipient_public)
    ciphertext = AESGCM(key).encrypt(WRAP_NONCE, secret.get_secret_value().encode(), _aad(agency, username))
    return base64.urlsafe_b64encode(ephemeral_public + ciphertext).rstrip(b"=").decode()


def open_secret(private: X25519PrivateKey, sealed: str, *, agency: str, username: str) -> SecretStr:
    """Open what :func:`seal_secret` sealed to ``private``'s public key.

    Raises:
        ValidationFailed: ``broker.sealed_invalid`` when it is malformed, was sealed to another
            key, or names another agency or user.
    """
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    except ValueError:
        raise ValidationFailed(SEALED_INVALID, "the sealed password is not base64url text") from None
    if len(raw) < 32 + 16:
        raise ValidationFailed(SEALED_INVALID, "the sealed password is too short")
    ephemeral_public, ciphertext = raw[:32], raw[32:]
    own_public = raw_public(private.public_key())
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        key = wrap_key(shared, ephemeral_public, own_public)
        plain = AESGCM(key).decrypt(WRAP_NONCE, ciphertext, _aad(agency, username))
    except (InvalidTag, ValueError):
        raise ValidationFailed(
            SEALED_INVALID, "the sealed password does not open with this agency's encryption key"
        ) from None
    return SecretStr(plain.decode())
