"""``onedoor connector check``'s key checks: lifetimes at the hub, previous and pending key files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import SecretStr

from connectors.agent.check import key_lifetime_result, previous_keys_result
from connectors.agent.config import load_config
from connectors.agent.keyfiles import keep_previous
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId

AGENCY = AgencyId("fake-county-police")
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"


def _directory(keys: AgencyKeyPair, *, signing_until: datetime | None) -> dict[str, Any]:
    until = signing_until.isoformat() if signing_until else None
    return {
        "agencies": [
            {
                "id": AGENCY,
                "signing_keys": [{"key_id": keys.signing_key_id, "status": "current", "not_after": until}],
                "encryption_keys": [{"key_id": keys.encryption_key_id, "status": "current", "not_after": None}],
            }
        ]
    }


def test_key_lifetime_passes_warns_and_fails_in_words() -> None:
    keys = AgencyKeyPair.generate(AGENCY)
    fine = key_lifetime_result(_directory(keys, signing_until=None), keys, now=NOW)
    assert fine.ok
    assert "WARNING" not in fine.message
    soon = key_lifetime_result(_directory(keys, signing_until=NOW + timedelta(days=3)), keys, now=NOW)
    assert soon.ok, "a warning, not a failure"
    assert soon.message.startswith("WARNING")
    assert f"signing key {keys.signing_key_id} expires in 3 days" in soon.message
    assert "rotate-keys" in soon.message
    gone = key_lifetime_result(_directory(keys, signing_until=NOW - timedelta(minutes=1)), keys, now=NOW)
    assert (gone.ok, gone.code) == (False, "check.key_expired")


def _config(tmp_path: Path, passphrase: str) -> Any:
    return load_config(
        agency=AGENCY,
        keys_dir=tmp_path / "keys",
        keys_passphrase=SecretStr(passphrase),
        matching_key_path=tmp_path / "matching.key",
        disclosure_log_path=tmp_path / "disclosures.sqlite3",
        api={"token": "synthetic-token-" + "x" * 32},
    )


def test_previous_keys_must_open_and_a_pending_rotation_is_named(tmp_path: Path) -> None:
    keep_previous(tmp_path / "keys", X25519PrivateKey.generate(), NOW + timedelta(days=1), PASSPHRASE.encode())
    ok = previous_keys_result(_config(tmp_path, PASSPHRASE), now=NOW)
    assert ok.ok
    assert ok.message.startswith("1 previous encryption key")
    wrong = previous_keys_result(_config(tmp_path, "a different passphrase"), now=NOW)
    assert (wrong.ok, wrong.code) == (False, "check.previous_keys")
    assert "wrong passphrase" in wrong.message
    (tmp_path / "keys" / "pending").mkdir()
    (tmp_path / "keys" / "pending" / "signing.pem").write_bytes(b"-")
    pending = previous_keys_result(_config(tmp_path, PASSPHRASE), now=NOW)
    assert (pending.ok, pending.code) == (False, "check.previous_keys")
    assert "interrupted rotation" in pending.message
