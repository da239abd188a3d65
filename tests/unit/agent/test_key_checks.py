"""``onedoor connector check``'s key checks: lifetimes at the hub, previous and pending key files."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
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


def test_a_directory_the_check_cannot_parse_is_a_failed_check_not_a_traceback() -> None:
    keys = AgencyKeyPair.generate(AGENCY)
    good = _directory(keys, signing_until=NOW + timedelta(days=60))
    bad_time = _directory(keys, signing_until=None)
    bad_time["agencies"][0]["signing_keys"][0]["not_after"] = "next tuesday"
    not_objects = {"agencies": [{"id": AGENCY, "signing_keys": ["k1_x"], "encryption_keys": []}]}
    not_lists = {"agencies": [{"id": AGENCY, "signing_keys": {"key_id": "k1_x"}}]}
    for document in (bad_time, not_objects, not_lists, {"agencies": "none"}, ["not", "a", "directory"]):
        result = key_lifetime_result(document, keys, now=NOW)
        assert (result.ok, result.code) == (False, "check.key_lifetime_unreadable"), document
        assert "could not read the key lifetimes" in result.message
    # A time without a zone is read as UTC (the hub writes UTC), not a TypeError.
    naive = _directory(keys, signing_until=None)
    naive["agencies"][0]["signing_keys"][0]["not_after"] = (NOW + timedelta(days=3)).replace(tzinfo=None).isoformat()
    warned = key_lifetime_result(naive, keys, now=NOW)
    assert warned.ok
    assert "expires in 3 days" in warned.message
    assert key_lifetime_result(good, keys, now=NOW).ok


def test_keeping_a_previous_key_again_replaces_its_not_after_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = X25519PrivateKey.generate()
    keep_previous(tmp_path / "keys", key, NOW + timedelta(days=1), PASSPHRASE.encode())
    [meta] = (tmp_path / "keys" / "previous").glob("*.json")
    seen: list[str] = []
    real_replace = os.replace

    def watching_replace(source: Any, target: Any) -> None:
        # Right up to the rename, the previous not_after is still there for a reader.
        seen.append(json.loads(Path(target).read_text())["not_after"])
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", watching_replace)
    keep_previous(tmp_path / "keys", key, NOW + timedelta(days=2), PASSPHRASE.encode())
    assert seen == [(NOW + timedelta(days=1)).isoformat()]
    assert json.loads(meta.read_text())["not_after"] == (NOW + timedelta(days=2)).isoformat()
    assert stat.S_IMODE(meta.stat().st_mode) == 0o600
    assert sorted(p.name for p in meta.parent.iterdir() if p.name.startswith(".")) == [], "no temporary file left"
