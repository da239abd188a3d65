"""The "onedoor intake v1" format: a public referral form sealed to the triage desk's intake key.

A member of the public has no key and no account, so the form is sealed with ECIES over
P-256 (what WebCrypto offers in every browser): the sender makes an ephemeral P-256 key,
ECDH with the intake key gives 32 bytes, HKDF-SHA256 (empty salt, info = ``onedoor/v1/intake``
+ ephemeral point + recipient point, both raw uncompressed, 65 bytes each) gives an AES-256-GCM
key; the IV is 12 random bytes and the additional data is the intake key id in ASCII. The
sealed text is JSON: ``{"v": 1, "kid": ..., "epk": b64url, "iv": b64url, "ct": b64url}``.

The browser (``hub/intake/static/refer.js``) and ``seal_form`` produce it; only the triage desk,
holding the private key, can ``open_form`` it. The hub holds the public key only.

``PublicSubmission`` is the Kafka record the hub publishes on ``<prefix>.intake.<triage agency>``
(Avro, ``contracts/schemas/onedoor.intake.submission.avsc``), which the triage connector reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import fastavro
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onedoor.envelope.keys import create_private_file
from onedoor.errors import ValidationFailed

FORMAT_VERSION: Final = 1
HKDF_INFO: Final = b"onedoor/v1/intake"
POINT_BYTES: Final = 65
"""A raw uncompressed P-256 point: 0x04, then X and Y (32 bytes each)."""
IV_BYTES: Final = 12
MAX_SEALED_CHARS: Final = 96 * 1024
"""Longer sealed text is refused before any parsing."""
KEY_ID: Final = re.compile(r"ik1_[0-9a-f]{32}")

SEALED_MALFORMED: Final = "intake.sealed_malformed"
KEY_UNKNOWN: Final = "intake.key_unknown"
UNDECRYPTABLE: Final = "intake.undecryptable"
BAD_PUBLIC_KEY: Final = "intake.bad_public_key"

_CURVE = ec.SECP256R1()
_POINT = serialization.PublicFormat.UncompressedPoint
_X962 = serialization.Encoding.X962


def b64url(data: bytes) -> str:
    """Unpadded base64url, as WebCrypto's JWK and our JSON use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode unpadded (or padded) base64url; ``ValueError`` if it is not."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def intake_key_id(public_raw: bytes) -> str:
    """``ik1_`` and the first 32 hex digits of SHA-256 over the raw uncompressed point."""
    return "ik1_" + hashlib.sha256(public_raw).hexdigest()[:32]


INTAKE_KEY_PATH: Final = "/intake/key"
"""The hub route: ``GET`` shows the registered key (open), ``PUT`` registers the caller's own."""


def intake_key_body(public_raw: bytes) -> dict[str, str]:
    """The body of ``PUT /intake/key``: ``{"public_key": b64url}``.

    Sent by the triage connector with its agency assertion (``connectors.sdk.hubauth.HubClient``):
    ``await hub.call("PUT", INTAKE_KEY_PATH, json=intake_key_body(key.public_raw))``. The answer is
    ``{"agency", "key_id", "public_key"}``; ``key_id`` must equal ``intake_key_id(public_raw)``.
    """
    return {"public_key": b64url(public_raw)}


def load_public(public_raw: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its 65-byte raw uncompressed point.

    Raises:
        ValidationFailed: ``intake.bad_public_key`` if it is not a point on P-256.
    """
    if len(public_raw) != POINT_BYTES or public_raw[0] != 0x04:
        raise ValidationFailed(BAD_PUBLIC_KEY, "an intake key is a raw uncompressed P-256 point (65 bytes)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, public_raw)
    except ValueError:
        raise ValidationFailed(BAD_PUBLIC_KEY, "the intake key is not a point on P-256") from None


def _raw(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(_X962, _POINT)


def _aead_key(shared: bytes, ephemeral_raw: bytes, recipient_raw: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO + ephemeral_raw + recipient_raw)
    return hkdf.derive(shared)


@dataclass(frozen=True, slots=True)
class IntakeKeyPair:
    """The triage desk's intake key (ECDH P-256). Only the triage connector holds it."""

    private: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> IntakeKeyPair:
        """A fresh intake key."""
        return cls(ec.generate_private_key(_CURVE))

    @property
    def public_raw(self) -> bytes:
        """The raw uncompressed public point (65 bytes): what the hub and the browser get."""
        return _raw(self.private.public_key())

    @property
    def key_id(self) -> str:
        """``intake_key_id(public_raw)``."""
        return intake_key_id(self.public_raw)

    def save(self, path: Path) -> None:
        """Write the private key as PKCS#8 PEM to a new file readable only by the owner (0600).

        Raises:
            FileExistsError: if ``path`` exists; a key is never overwritten.
        """
        pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        create_private_file(path, pem)

    @classmethod
    def load(cls, path: Path) -> IntakeKeyPair:
        """Read a key written by ``save``.

        Raises:
            ValidationFailed: ``intake.bad_private_key`` if the file holds no P-256 private key.
        """
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), None)
        except ValueError:
            raise ValidationFailed("intake.bad_private_key", f"{path} holds no readable private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _CURVE.name:
            raise ValidationFailed("intake.bad_private_key", f"{path} does not hold a P-256 key")
        return cls(key)


def seal_form(public_raw: bytes, plaintext: bytes) -> str:
    """Seal ``plaintext`` to the intake key ``public_raw``, exactly as the browser does.

    Raises:
        ValidationFailed: ``intake.bad_public_key`` if ``public_raw`` is not a P-256 point.
    """
    recipient = load_public(public_raw)
    ephemeral = ec.generate_private_key(_CURVE)
    ephemeral_raw = _raw(ephemeral.public_key())
    shared = ephemeral.exchange(ec.ECDH(), recipient)
    kid = intake_key_id(public_raw)
    iv = os.urandom(IV_BYTES)
    ct = AESGCM(_aead_key(shared, ephemeral_raw, public_raw)).encrypt(iv, plaintext, kid.encode("ascii"))
    return json.dumps(
        {"v": FORMAT_VERSION, "kid": kid, "epk": b64url(ephemeral_raw), "iv": b64url(iv), "ct": b64url(ct)},
        separators=(",", ":"),
    )


@dataclass(frozen=True, slots=True)
class SealedForm:
    """The parts of a sealed form, checked for shape only (the hub can do no more)."""

    kid: str
    epk: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    ct: bytes = field(repr=False)


def parse_sealed(sealed: str) -> SealedForm:
    """Check a sealed form's shape: version, key id, point, IV and ciphertext sizes.

    Raises:
        ValidationFailed: ``intake.sealed_malformed``.
    """

    def malformed(why: str) -> ValidationFailed:
        return ValidationFailed(SEALED_MALFORMED, f"not an onedoor intake v1 sealed form: {why}")

    if not isinstance(sealed, str) or len(sealed) > MAX_SEALED_CHARS:
        raise malformed("missing or too long")
    try:
        data = json.loads(sealed)
    except ValueError:
        raise malformed("not JSON") from None
    if not isinstance(data, dict) or set(data) != {"v", "kid", "epk", "iv", "ct"}:
        raise malformed("needs exactly v, kid, epk, iv and ct")
    if data["v"] != FORMAT_VERSION or isinstance(data["v"], bool):
        raise malformed("unknown version")
    kid = data["kid"]
    if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
        raise malformed("kid is not an intake key id")
    try:
        epk, iv, ct = unb64url(data["epk"]), unb64url(data["iv"]), unb64url(data["ct"])
    except ValueError:
        raise malformed("epk, iv and ct must be base64url") from None
    if len(epk) != POINT_BYTES or epk[0] != 0x04 or len(iv) != IV_BYTES or len(ct) < 16:
        raise malformed("wrong size of epk, iv or ct")
    return SealedForm(kid, epk, iv, ct)


def open_form(key: IntakeKeyPair, sealed: str) -> bytes:
    """The plaintext of a sealed form, for the holder of the intake key.

    Raises:
        ValidationFailed: ``intake.sealed_malformed`` (not this format), ``intake.key_unknown``
            (sealed to another key), ``intake.undecryptable`` (tampered, or not made for this key).
    """
    parts = parse_sealed(sealed)
    if parts.kid != key.key_id:
        raise ValidationFailed(KEY_UNKNOWN, "the form was sealed to another intake key")
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, parts.epk)
    except ValueError:
        raise ValidationFailed(SEALED_MALFORMED, "the ephemeral key is not a point on P-256") from None
    shared = key.private.exchange(ec.ECDH(), ephemeral)
    aead = AESGCM(_aead_key(shared, parts.epk, key.public_raw))
    try:
        return aead.decrypt(parts.iv, parts.ct, parts.kid.encode("ascii"))
    except InvalidTag:
        raise ValidationFailed(
            UNDECRYPTABLE, "the sealed form does not decrypt: altered in transit or corrupt"
        ) from None


SUBMISSION_SCHEMA_FILE: Final = "schemas/onedoor.intake.submission.avsc"


@cache
def submission_schema() -> dict[str, Any]:
    """The parsed Avro schema of an intake record."""
    text = resources.files("contracts").joinpath(SUBMISSION_SCHEMA_FILE).read_text(encoding="utf-8")
    parsed = fastavro.parse_schema(json.loads(text))
    if not isinstance(parsed, dict):
        raise TypeError(f"{SUBMISSION_SCHEMA_FILE} is not a record schema")
    return parsed


@dataclass(frozen=True, slots=True)
class PublicSubmission:
    """One intake record."""

    reference: str
    """What the referrer was shown; also the record key."""
    received_at: datetime
    key_id: str
    """The intake key the form is sealed to."""
    sealed: str
    """The sealed form (``onedoor.envelope.intake``)."""

    def encode(self) -> bytes:
        """Avro binary (schemaless) of this record."""
        out = io.BytesIO()
        fastavro.schemaless_writer(
            out,
            submission_schema(),
            {
                "reference": self.reference,
                "received_at": self.received_at,
                "key_id": self.key_id,
                "sealed": self.sealed,
            },
        )
        return out.getvalue()

    @classmethod
    def decode(cls, value: bytes) -> PublicSubmission:
        """Read a record written by ``encode`` (the triage connector's side)."""
        record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(value), submission_schema(), None)  # type: ignore[assignment]
        return cls(record["reference"], record["received_at"], record["key_id"], record["sealed"])
