"""Public keys that verify hub API tokens: parsed from a PEM file or a JWKS document.

Each key is bound to exactly one algorithm by its type (Ed25519 to EdDSA, P-256 to ES256), so
the algorithm a token is checked with comes from our configuration, never from the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from onedoor.errors import ValidationFailed

EDDSA: Final = "EdDSA"
ES256: Final = "ES256"
ALLOWED_ALGORITHMS: Final = frozenset({EDDSA, ES256})
"""The only algorithms a token may use. Fixed here: ``none``, HMAC and RSA are never accepted."""

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    """The one algorithm ``key`` is used with.

    Raises:
        ValidationFailed: ``auth.key_unsupported`` for an EC key on a curve other than P-256.
    """
    if isinstance(key, Ed25519PublicKey | Ed25519PrivateKey):
        return EDDSA
    if isinstance(key.curve, ec.SECP256R1):
        return ES256
    raise ValidationFailed("auth.key_unsupported", f"EC keys must be on P-256, not {key.curve.name}")


def _jwk_members(key: PublicKey) -> dict[str, str]:
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    numbers = key.public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": _b64url(numbers.x.to_bytes(32)), "y": _b64url(numbers.y.to_bytes(32))}


def thumbprint(key: PublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url): its ``kid``."""
    canonical = json.dumps(_jwk_members(key), separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key trusted to sign hub API tokens."""

    public: PublicKey = field(repr=False)
    algorithm: str
    """``EdDSA`` or ``ES256``: what this key verifies, whatever a token's header says."""
    kid: str | None
    """The key id tokens name in their header; ``None`` matches any token."""

    @classmethod
    def of(cls, public: PublicKey, kid: str | None = None) -> VerificationKey:
        """Wrap ``public``, binding it to its algorithm."""
        return cls(public, algorithm_of(public), kid)

    def to_jwk(self) -> dict[str, str]:
        """This key as a public JWK (with ``kid``, ``alg`` and ``use``)."""
        return {
            **_jwk_members(self.public),
            "kid": self.kid or thumbprint(self.public),
            "alg": self.algorithm,
            "use": "sig",
        }


def keys_from_pem(data: bytes) -> tuple[VerificationKey, ...]:
    """The one public key in a PEM file; its ``kid`` is left open.

    Raises:
        ValidationFailed: ``auth.key_unusable`` if it is not an Ed25519 or P-256 public key.
    """
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ValidationFailed("auth.key_unusable", "not a PEM public key (a private key is never accepted)") from None
    if not isinstance(public, Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ValidationFailed("auth.key_unusable", "the public key must be Ed25519 (EdDSA) or P-256 (ES256)")
    try:
        return (VerificationKey.of(public),)
    except ValidationFailed as exc:
        raise ValidationFailed("auth.key_unusable", exc.message) from None


def _jwk_public(jwk: Mapping[str, object]) -> PublicKey | None:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "Ed25519":
        return Ed25519PublicKey.from_public_bytes(_unb64url(jwk.get("x")))
    if kty == "EC" and crv == "P-256":
        x, y = (int.from_bytes(_unb64url(jwk.get(c)), "big") for c in ("x", "y"))
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    return None


def keys_from_jwks(text: str) -> tuple[VerificationKey, ...]:
    """The signing keys of a JWKS document that are Ed25519 or P-256; other keys are skipped.

    Raises:
        ValidationFailed: ``auth.key_unusable`` if the document does not parse, holds a private
            key, or has no usable signing key.
    """
    try:
        document = json.loads(text)
    except ValueError:
        raise ValidationFailed("auth.key_unusable", "the JWKS file is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValidationFailed("auth.key_unusable", "a JWKS document is an object with a 'keys' list")
    found: list[VerificationKey] = []
    for index, jwk in enumerate(entries):
        if not isinstance(jwk, dict):
            raise ValidationFailed("auth.key_unusable", f"keys[{index}] is not an object")
        if "d" in jwk:
            raise ValidationFailed(
                "auth.key_unusable", f"keys[{index}] is a private key; the hub takes public keys only"
            )
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            public = _jwk_public(jwk)
        except (ValueError, TypeError):
            raise ValidationFailed("auth.key_unusable", f"keys[{index}] has malformed key material") from None
        if public is None:
            continue  # RSA, HMAC and other curves: not on our allow-list
        key = VerificationKey.of(public, kid=jwk["kid"] if isinstance(jwk.get("kid"), str) else None)
        if jwk.get("alg", key.algorithm) != key.algorithm:
            raise ValidationFailed(
                "auth.key_unusable", f"keys[{index}] names alg {jwk['alg']!r} for a {key.algorithm} key"
            )
        found.append(key)
    if not found:
        raise ValidationFailed("auth.key_unusable", "the JWKS holds no Ed25519 or P-256 signing key")
    return tuple(found)


def keys_from_file_content(data: bytes) -> tuple[VerificationKey, ...]:
    """Keys from a PEM public key or a JWKS document, told apart by content."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return keys_from_pem(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("auth.key_unusable", "neither a PEM public key nor a JWKS document") from None
    return keys_from_jwks(text)
