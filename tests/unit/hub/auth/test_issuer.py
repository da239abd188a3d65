"""The development issuer's key on disk, and which keys the hub verifies with in each environment."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.auth.issuer import DEV_ISSUER, DevIssuer, token_policy
from hub.auth.keys import VerificationKey
from hub.auth.roles import Role
from hub.auth.tokens import TokenRefused, verify
from onedoor.errors import ValidationFailed
from onedoor.settings import AuthSettings, DatabaseSettings, Settings
from tests.unit.hub.auth.conftest import KEY, NOW, P256, claims, signed

PROD_DB = DatabaseSettings(url="postgresql+psycopg://u@db.invalid/hub")


def _settings(home: Path, env: Literal["dev", "test", "prod"] = "dev", **auth: object) -> Settings:
    return Settings(
        env=env, home=home, db=PROD_DB if env == "prod" else DatabaseSettings(), auth=AuthSettings.model_validate(auth)
    )


def test_the_dev_issuer_key_is_made_once_and_kept_private(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path / "home")
    first = DevIssuer.from_settings(settings)
    path = settings.issuer_key_path
    assert path == tmp_path / "home" / "hub" / "issuer-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = DevIssuer.from_settings(settings)
    assert again.verification_key == first.verification_key, "reused on restart"
    assert "PRIVATE KEY" not in capsys.readouterr().err + repr(first)


def test_a_dev_token_verifies_under_the_dev_policy(tmp_path: Path) -> None:
    settings = _settings(tmp_path, token_ttl_seconds=600)
    token = DevIssuer.from_settings(settings).mint(subject="dev:alice", roles=[Role.AUDITOR], now=NOW)
    policy = token_policy(settings)
    assert (policy.issuer, policy.audience) == (DEV_ISSUER, "onedoor-hub")
    principal = verify(token, policy, NOW)
    assert (principal.subject, principal.roles) == ("dev:alice", frozenset({Role.AUDITOR}))
    assert principal.expires_at == NOW + timedelta(seconds=600), "the configured lifetime"


def test_an_issuer_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    DevIssuer.from_settings(settings)
    settings.issuer_key_path.chmod(0o644)
    with pytest.raises(ValidationFailed) as caught:
        DevIssuer.from_settings(settings)
    assert caught.value.code == "settings.issuer_key_unsafe"


def test_an_issuer_key_file_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.issuer_key_path.parent.mkdir(parents=True)
    settings.issuer_key_path.write_text("not a key\n")
    settings.issuer_key_path.chmod(0o600)
    with pytest.raises(ValidationFailed) as caught:
        DevIssuer.from_settings(settings)
    assert caught.value.code == "settings.issuer_key_unusable"


def test_prod_has_no_dev_issuer_and_writes_no_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="prod", issuer="https://idp.test", public_key_path=tmp_path / "k.pem")
    with pytest.raises(ValidationFailed) as caught:
        DevIssuer.from_settings(settings)
    assert caught.value.code == "auth.dev_issuer_refused"
    assert not settings.issuer_key_path.exists()


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        pytest.param({"issuer": "https://idp.test"}, "settings.auth_key_missing", id="no verification key"),
        pytest.param({"public_key_path": "k.pem"}, "settings.auth_issuer_missing", id="no issuer"),
        pytest.param({}, "settings.auth_key_missing", id="neither"),
    ],
)
def test_prod_fails_closed_without_a_key_or_an_issuer(tmp_path: Path, auth: dict[str, str], code: str) -> None:
    (tmp_path / "k.pem").write_bytes(KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    paths = {k: tmp_path / v if k == "public_key_path" else v for k, v in auth.items()}
    with pytest.raises(ValidationFailed) as caught:
        token_policy(_settings(tmp_path, env="prod", **paths))
    assert caught.value.code == code
    assert not (tmp_path / "hub" / "issuer-key.pem").exists(), "prod never makes a development key"


def test_prod_verifies_with_the_configured_jwks(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwk = VerificationKey.of(P256.public_key(), kid="idp-2026").to_jwk()
    jwks.write_text(json.dumps({"keys": [jwk]}))
    settings = _settings(tmp_path, env="prod", issuer="https://idp.test", audience="hub-prod", public_key_path=jwks)
    policy = token_policy(settings)
    token = signed(claims(iss="https://idp.test", aud="hub-prod"), P256, headers={"kid": "idp-2026"})
    assert verify(token, policy, NOW).roles == {Role.HUB_OPERATOR}
    dev_style = signed(claims(iss="https://idp.test", aud="hub-prod"), KEY)
    with pytest.raises(TokenRefused) as caught:
        verify(dev_style, policy, NOW)
    assert caught.value.code == "auth.bad_signature", "only the configured issuer's keys are trusted"


def test_dev_with_a_configured_key_uses_it_and_makes_no_dev_key(tmp_path: Path) -> None:
    pem = tmp_path / "issuer.pub.pem"
    pem.write_bytes(KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    policy = token_policy(_settings(tmp_path, issuer="https://idp.test", public_key_path=pem))
    assert [k.algorithm for k in policy.keys] == ["EdDSA"]
    assert not (tmp_path / "hub" / "issuer-key.pem").exists()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        pytest.param(None, "settings.auth_key_missing", id="the file does not exist"),
        pytest.param(b"{}", "settings.auth_key_unusable", id="the file holds no key"),
    ],
)
def test_a_configured_key_file_that_does_not_load_is_refused(tmp_path: Path, content: bytes | None, code: str) -> None:
    path = tmp_path / "issuer-keys"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValidationFailed) as caught:
        token_policy(_settings(tmp_path, env="prod", issuer="https://idp.test", public_key_path=path))
    assert caught.value.code == code
