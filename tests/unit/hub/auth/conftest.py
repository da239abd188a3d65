"""Keys, a fixed clock and token builders for the auth unit tests (no I/O beyond tmp_path)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.auth.keys import PrivateKey, VerificationKey, algorithm_of
from hub.auth.tokens import TokenPolicy

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ISSUER = "https://idp.example.test/realms/onedoor"
AUDIENCE = "onedoor-hub"
SUBJECT = "alice.operator"

KEY = Ed25519PrivateKey.generate()
"""The issuer's Ed25519 key: the hub trusts it."""
P256 = ec.generate_private_key(ec.SECP256R1())
"""The issuer's P-256 key: the hub trusts it too."""
STRANGER = Ed25519PrivateKey.generate()
"""Someone else's key: the hub does not trust it."""

POLICY = TokenPolicy(
    keys=(VerificationKey.of(KEY.public_key()), VerificationKey.of(P256.public_key())),
    issuer=ISSUER,
    audience=AUDIENCE,
    leeway=timedelta(seconds=30),
)

DROP = object()
"""A claim value meaning: leave this claim out."""


def at(seconds: float) -> int:
    """NOW shifted by ``seconds``, as a NumericDate."""
    return int(NOW.timestamp() + seconds)


def claims(**changes: object) -> dict[str, Any]:
    """Good hub-operator claims, with ``changes`` applied (``DROP`` removes one)."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "iat": at(-60),
        "exp": at(3600),
        "jti": "tok-0001",
        "roles": ["hub-operator"],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def signed(
    body: dict[str, Any],
    key: PrivateKey | rsa.RSAPrivateKey = KEY,
    headers: dict[str, Any] | None = None,
    algorithm: str | None = None,
) -> str:
    """``body`` signed with ``key``, by default with the key's own algorithm."""
    if algorithm is None:
        assert not isinstance(key, rsa.RSAPrivateKey)
        algorithm = algorithm_of(key)
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], body: dict[str, Any], signature: bytes = b"") -> str:
    """A JWS assembled by hand, for tokens no honest library would make."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}.{b64(signature)}"


def hs256(secret: bytes, body: dict[str, Any]) -> str:
    """An HS256 token keyed with ``secret`` (the classic key-confusion attack when it is a public key)."""
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(body).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"
