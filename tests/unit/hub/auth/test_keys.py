"""Verification keys from PEM and JWKS files: what is accepted, and the code when it is not."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from hub.auth.keys import VerificationKey, keys_from_file_content, keys_from_jwks, keys_from_pem, thumbprint
from onedoor.errors import ValidationFailed
from tests.unit.hub.auth.conftest import KEY, P256


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_thumbprint_matches_rfc_8037_appendix_a3() -> None:
    raw = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert thumbprint(Ed25519PublicKey.from_public_bytes(raw)) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(
    ("key", "algorithm"), [pytest.param(KEY, "EdDSA", id="Ed25519"), pytest.param(P256, "ES256", id="P-256")]
)
def test_a_pem_public_key_is_bound_to_its_algorithm(
    key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey, algorithm: str
) -> None:
    [loaded] = keys_from_file_content(_pem(key))
    assert (loaded.algorithm, loaded.kid) == (algorithm, None)


UNUSABLE_PEMS = [
    pytest.param(
        _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)), id="RSA is not on the allow-list"
    ),
    pytest.param(_pem(ec.generate_private_key(ec.SECP384R1())), id="P-384 is not ES256"),
    pytest.param(
        KEY.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), id="a private key is never accepted"
    ),
    pytest.param(b"-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n", id="not base64 inside"),
]


@pytest.mark.parametrize("pem", UNUSABLE_PEMS)
def test_unusable_pem_files_are_refused(pem: bytes) -> None:
    with pytest.raises(ValidationFailed) as caught:
        keys_from_pem(pem)
    assert caught.value.code == "auth.key_unusable"


def _jwk(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey, **extra: str) -> dict[str, str]:
    return {**VerificationKey.of(key.public_key(), kid=None).to_jwk(), **extra}


def test_a_jwks_yields_its_ed25519_and_p256_signing_keys_by_kid() -> None:
    document = {
        "keys": [
            _jwk(KEY, kid="ed-1"),
            _jwk(P256, kid="ec-1"),
            {"kty": "RSA", "kid": "rsa-1", "n": "AQAB", "e": "AQAB"},
            _jwk(Ed25519PrivateKey.generate(), kid="enc-1", use="enc"),
        ]
    }
    keys = keys_from_jwks(json.dumps(document))
    assert [(k.kid, k.algorithm) for k in keys] == [("ed-1", "EdDSA"), ("ec-1", "ES256")]
    assert keys_from_file_content(json.dumps(document).encode()) == keys


UNUSABLE_JWKS = [
    pytest.param("not json", id="not JSON"),
    pytest.param("[]", id="not an object"),
    pytest.param('{"keys": {}}', id="keys is not a list"),
    pytest.param('{"keys": [1]}', id="a key that is not an object"),
    pytest.param(json.dumps({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}), id="no usable key at all"),
    pytest.param(json.dumps({"keys": [_jwk(KEY, d="c2VjcmV0")]}), id="a private key is never accepted"),
    pytest.param(json.dumps({"keys": [_jwk(KEY, alg="HS256")]}), id="an alg that contradicts the key"),
    pytest.param(json.dumps({"keys": [_jwk(KEY, x="AAAA")]}), id="an Ed25519 key of the wrong length"),
    pytest.param(json.dumps({"keys": [_jwk(P256, y=_jwk(KEY)["x"])]}), id="a point not on P-256"),
]


@pytest.mark.parametrize("text", UNUSABLE_JWKS)
def test_unusable_jwks_files_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        keys_from_jwks(text)
    assert caught.value.code == "auth.key_unusable"


def test_binary_junk_is_neither_pem_nor_jwks() -> None:
    with pytest.raises(ValidationFailed) as caught:
        keys_from_file_content(b"\xff\xfe\x00")
    assert caught.value.code == "auth.key_unusable"
