"""``onedoor connector init``, the signed registration request, key files and previous keys by age.

No broker, no hub: files in ``tmp_path`` and the pure request verifier.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.agent import init as init_module
from connectors.agent.cli import app
from connectors.agent.config import load_config_file
from connectors.agent.init import CONFIG_FILE, REQUEST_FILE, TOKEN_FILE, initialise
from connectors.agent.keyfiles import (
    INBOX_SLACK,
    check_passphrase,
    keep_previous,
    key_id_of,
    load_decryption_keys,
    load_previous,
)
from connectors.agent.runtime import load_keys
from hub.agencies.enums import AgencyKind, KeyUse
from hub.agencies.request import MAX_AGE, make_request, verify_request
from hub.agencies.schemas import b64url
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, KeyId

AGENCY = AgencyId("lb-fakeborough-csc")
PASSPHRASE = b"correct horse battery staple"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _init(directory: Path, passphrase: bytes | None = PASSPHRASE) -> None:
    initialise(
        directory,
        agency=AGENCY,
        kind=AgencyKind.CHILDREN_SERVICES,
        display_name="London Borough of Fakeborough CSC (synthetic)",
        passphrase=passphrase,
        hub_url="http://hub.test:8470",
        bootstrap="broker.test:9092",
        topic_prefix="fake",
    )


def test_init_writes_encrypted_keys_token_config_and_request_with_tight_modes(tmp_path: Path) -> None:
    home = tmp_path / "connector"
    _init(home)
    assert _mode(home) == 0o700
    assert _mode(home / "keys") == 0o700
    assert _mode(home / "data") == 0o700
    for name in ("signing.pem", "encryption.pem"):
        key_file = home / "keys" / name
        assert _mode(key_file) == 0o600
        assert b"BEGIN ENCRYPTED PRIVATE KEY" in key_file.read_bytes(), "private keys are encrypted at rest"
    assert _mode(home / TOKEN_FILE) == 0o600
    assert len((home / TOKEN_FILE).read_text().strip()) >= 32
    assert _mode(home / CONFIG_FILE) == 0o600
    config_text = (home / CONFIG_FILE).read_text()
    assert PASSPHRASE.decode() not in config_text
    assert (home / TOKEN_FILE).read_text().strip() not in config_text, "the config names the token file, not the token"
    config = load_config_file(home / CONFIG_FILE)
    assert config.agency == AGENCY
    assert config.keys_dir == home.resolve() / "keys"
    assert config.kafka.topic_prefix == "fake"
    assert config.api.token_file == home.resolve() / TOKEN_FILE
    request = json.loads((home / REQUEST_FILE).read_text())
    new = verify_request(request)
    assert new.id == AGENCY
    assert new.kind is AgencyKind.CHILDREN_SERVICES


def test_init_refuses_to_overwrite_existing_keys_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "connector"
    _init(home)
    before = (home / "keys" / "signing.pem").read_bytes()
    with pytest.raises(ValidationFailed) as refused:
        _init(home)
    assert refused.value.code == "connector.keys_exist"
    assert (home / "keys" / "signing.pem").read_bytes() == before


def test_a_short_passphrase_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_passphrase("short")
    assert refused.value.code == "connector.weak_passphrase"
    assert check_passphrase("a long enough passphrase") == b"a long enough passphrase"


def test_wrong_or_missing_passphrase_is_a_clear_keys_passphrase_error(tmp_path: Path) -> None:
    home = tmp_path / "connector"
    _init(home)
    config = load_config_file(home / CONFIG_FILE)
    wrong = config.model_copy(update={"keys_passphrase": SecretStr("not the passphrase at all")})
    with pytest.raises(ValidationFailed) as refused:
        load_keys(wrong)
    assert refused.value.code == "connector.keys_passphrase"
    assert "wrong passphrase" in refused.value.message
    assert "not the passphrase" not in refused.value.message
    with pytest.raises(ValidationFailed) as missing:
        load_keys(config)
    assert missing.value.code == "connector.keys_passphrase"
    assert "ONEDOOR_CONNECTOR_KEYS_PASSPHRASE" in missing.value.message


def test_init_cli_takes_the_passphrase_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEDOOR_CONNECTOR_KEYS_PASSPHRASE", PASSPHRASE.decode())
    home = tmp_path / "cli"
    args = ["init", str(home), "--agency", str(AGENCY), "--kind", "children-services", "--name", "Fakeborough CSC"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "registration-request.json" in result.output
    assert PASSPHRASE.decode() not in result.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1
    assert "connector.keys_exist" in again.output


def test_init_cli_refuses_a_short_passphrase_and_warns_loudly_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEDOOR_CONNECTOR_KEYS_PASSPHRASE", "short")
    args = ["--agency", str(AGENCY), "--kind", "police", "--name", "Fake Police"]
    weak = CliRunner().invoke(app, ["init", str(tmp_path / "weak"), *args])
    assert weak.exit_code == 1
    assert "connector.weak_passphrase" in weak.output
    assert not (tmp_path / "weak" / "keys").exists(), "nothing written"
    bare = CliRunner().invoke(app, ["init", str(tmp_path / "bare"), *args, "--no-passphrase"])
    assert bare.exit_code == 0, bare.output
    assert "UNENCRYPTED" in bare.output
    assert b"ENCRYPTED" not in (tmp_path / "bare" / "keys" / "signing.pem").read_bytes()


# --- the registration request ---------------------------------------------------------------


def _request(**changes: object) -> dict[str, object]:
    keys = AgencyKeyPair.generate(AGENCY)
    return {**make_request(keys, kind="charity", display_name="Synthia Example Trust"), **changes}


def test_a_signed_request_verifies_and_names_its_keys() -> None:
    keys = AgencyKeyPair.generate(AGENCY)
    new = verify_request(make_request(keys, kind="charity", display_name="Synthia Example Trust"))
    assert new.signing_public_key == keys.signing_public
    assert new.encryption_public_key == keys.encryption_public


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"display_name": "Someone Else Entirely"}, "the name was changed after signing"),
        ({"kind": "police"}, "the kind was changed after signing"),
        ({"agency_id": "met-police"}, "the agency id was changed after signing"),
        (
            {"encryption_public_key": b64url(AgencyKeyPair.generate(AGENCY).encryption_public)},
            "the encryption key was swapped for somebody else's",
        ),
        (
            {"signing_public_key": b64url(AgencyKeyPair.generate(AGENCY).signing_public)},
            "the signing key was swapped: the signature is not by its holder",
        ),
        ({"signature": b64url(b"\0" * 64)}, "the signature was replaced"),
    ],
)
def test_a_tampered_request_is_refused(change: dict[str, object], why: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        verify_request(_request(**change))
    assert refused.value.code == "registration.bad_signature", why


def test_a_stale_or_future_request_is_refused() -> None:
    keys = AgencyKeyPair.generate(AGENCY)
    old = make_request(keys, kind="charity", display_name="Old", now=datetime.now(UTC) - MAX_AGE - timedelta(hours=1))
    with pytest.raises(ValidationFailed) as stale:
        verify_request(old)
    assert stale.value.code == "registration.stale"
    assert verify_request(old, now=datetime.now(UTC) - timedelta(days=2)).display_name == "Old", "control"
    future = make_request(keys, kind="charity", display_name="Soon", now=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(ValidationFailed) as early:
        verify_request(future)
    assert early.value.code == "registration.from_future"


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"format": "onedoor.registration-request/1"},
        {**_request(), "format": "something-else/9"},
        {**_request(), "kind": 7},
    ],
)
def test_a_malformed_request_is_refused(document: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        verify_request(document)
    assert refused.value.code == "registration.malformed"


def test_a_signed_request_with_an_invalid_field_is_malformed_not_registered() -> None:
    keys = AgencyKeyPair.generate(AgencyId("met-police"))
    document = make_request(keys, kind="not-a-kind", display_name="Fake")
    with pytest.raises(ValidationFailed) as refused:
        verify_request(document)
    assert refused.value.code == "registration.malformed"
    assert "kind" in refused.value.message


# --- previous encryption keys, by age ----------------------------------------------------------


def test_previous_keys_load_within_their_overlap_and_are_dropped_after(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    now = datetime.now(UTC)
    recent, expired = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    keep_previous(keys_dir, recent, now + timedelta(days=6), PASSPHRASE)
    keep_previous(keys_dir, expired, now - INBOX_SLACK - timedelta(minutes=1), PASSPHRASE)
    assert _mode(keys_dir / "previous") == 0o700
    assert all(_mode(p) == 0o600 for p in (keys_dir / "previous").iterdir())
    loaded = load_previous(keys_dir, PASSPHRASE, now=now)
    assert set(loaded) == {key_id_of(recent)}, "the key past its overlap is no longer loaded"
    later = load_previous(keys_dir, PASSPHRASE, now=now + timedelta(days=6) + INBOX_SLACK)
    assert later == {}
    with pytest.raises(ValidationFailed) as wrong:
        load_previous(keys_dir, b"the wrong passphrase!", now=now)
    assert wrong.value.code == "connector.keys_passphrase"


def test_decryption_keys_include_previous_and_pending_but_not_the_current_twice(tmp_path: Path) -> None:
    home = tmp_path / "connector"
    _init(home)
    keys_dir = home / "keys"
    previous = X25519PrivateKey.generate()
    keep_previous(keys_dir, previous, datetime.now(UTC) + timedelta(days=1), PASSPHRASE)
    pair, others = load_decryption_keys(AGENCY, keys_dir, PASSPHRASE)
    assert set(others) == {key_id_of(previous)}
    assert pair.encryption_key_id not in others
    assert os.stat(keys_dir / "previous" / f"{key_id_of(previous)}.pem").st_mode & 0o077 == 0


def test_rotate_and_revoke_cli_say_what_is_wrong_before_calling_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = CliRunner().invoke(app, ["rotate-keys", "--connector", str(tmp_path / "none.env")])
    assert missing.exit_code == 1
    assert "connector.invalid_config" in missing.output
    home = tmp_path / "connector"
    _init(home)
    monkeypatch.delenv("ONEDOOR_CONNECTOR_KEYS_PASSPHRASE", raising=False)
    config = str(home / CONFIG_FILE)
    unset = CliRunner().invoke(app, ["rotate-keys", "--connector", config])
    assert unset.exit_code == 1
    assert "connector.keys_passphrase" in unset.output
    monkeypatch.setenv("ONEDOOR_CONNECTOR_KEYS_PASSPHRASE", "a wrong but long passphrase")
    wrong = CliRunner().invoke(app, ["revoke-key", "k1_" + "0" * 32, "--connector", config])
    assert wrong.exit_code == 1
    assert "wrong passphrase" in wrong.output
    assert "Traceback" not in wrong.output
    assert not (home / "keys" / "pending").exists(), "nothing made before the keys opened"


def test_init_refuses_a_directory_that_holds_anything_and_leaves_its_mode(tmp_path: Path) -> None:
    home = tmp_path / "somebodys-home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)  # noqa: S103 - a home directory as people have it
    (home / "notes.txt").write_text("not the connector's")
    with pytest.raises(ValidationFailed) as refused:
        _init(home)
    assert refused.value.code == "connector.directory_not_empty"
    assert _mode(home) == 0o755, "an existing directory's mode is not changed"
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somebodys-home"], "no temporary directory left"
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    _init(empty)
    assert _mode(empty) == 0o700
    assert (empty / CONFIG_FILE).exists()


def test_an_init_failing_half_way_leaves_nothing_and_a_rerun_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "connector"

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(init_module, "make_request", broken)
    with pytest.raises(OSError, match="simulated"):
        _init(home)
    assert list(tmp_path.iterdir()) == [], "neither the directory nor a temporary one is left"
    monkeypatch.undo()
    _init(home)
    assert (home / "keys" / "signing.pem").exists()
    assert load_config_file(home / CONFIG_FILE).keys_dir == home.resolve() / "keys"


def test_rotate_keys_prints_the_revoke_commands_when_revoking_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.agent import rotate  # noqa: PLC0415 - only this test replaces its hub calls

    home = tmp_path / "connector"
    _init(home)
    old_signing, new_signing = KeyId("k1_" + "a" * 32), KeyId("k1_" + "b" * 32)
    done = [rotate.Rotated(KeyUse.SIGNING, old_signing, new_signing, datetime(2026, 12, 1, tzinfo=UTC))]

    async def fails_to_revoke(*_args: object, **_kwargs: object) -> list[rotate.Rotated]:
        raise rotate.RevocationIncomplete(done, [(old_signing, "hub.unreachable")])

    monkeypatch.setattr(rotate, "rotate_keys", fails_to_revoke)
    config = home / CONFIG_FILE
    result = CliRunner().invoke(app, ["rotate-keys", "--connector", str(config), "--no-encryption", "--revoke-old"])
    assert result.exit_code == 1
    assert f"signing: {old_signing} -> {new_signing} (old key NOT revoked)" in result.output
    assert "connector.revoke_incomplete" in result.output
    assert f"onedoor connector revoke-key {old_signing} --connector {config}" in result.output
