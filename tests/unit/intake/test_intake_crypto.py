"""The "onedoor intake v1" format in Python: seal and open, and each way opening is refused."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onedoor.envelope.intake import (
    BAD_PUBLIC_KEY,
    KEY_UNKNOWN,
    SEALED_MALFORMED,
    UNDECRYPTABLE,
    IntakeKeyPair,
    PublicSubmission,
    b64url,
    intake_key_id,
    open_form,
    parse_sealed,
    seal_form,
    unb64url,
)
from onedoor.errors import ValidationFailed

PLAINTEXT = json.dumps({"child": {"given_name": "Testy", "family_name": "McFakeface"}}).encode()


@pytest.fixture(scope="module")
def key() -> IntakeKeyPair:
    return IntakeKeyPair.generate()


def test_round_trip(key: IntakeKeyPair) -> None:
    sealed = seal_form(key.public_raw, PLAINTEXT)
    assert open_form(key, sealed) == PLAINTEXT
    assert b"McFakeface" not in sealed.encode()


def test_sealed_layout(key: IntakeKeyPair) -> None:
    data = json.loads(seal_form(key.public_raw, PLAINTEXT))
    assert set(data) == {"v", "kid", "epk", "iv", "ct"}
    assert data["v"] == 1
    assert data["kid"] == key.key_id
    assert len(unb64url(data["epk"])) == 65
    assert unb64url(data["epk"])[0] == 4
    assert len(unb64url(data["iv"])) == 12
    assert len(unb64url(data["ct"])) == len(PLAINTEXT) + 16  # GCM tag


def test_each_seal_is_fresh(key: IntakeKeyPair) -> None:
    first, second = json.loads(seal_form(key.public_raw, PLAINTEXT)), json.loads(seal_form(key.public_raw, PLAINTEXT))
    assert first["epk"] != second["epk"]
    assert first["ct"] != second["ct"]


def test_key_id_is_sha256_prefix(key: IntakeKeyPair) -> None:
    assert key.key_id == intake_key_id(key.public_raw)
    assert key.key_id.startswith("ik1_")
    assert len(key.key_id) == 36
    assert len(key.public_raw) == 65


def test_another_key_is_key_unknown(key: IntakeKeyPair) -> None:
    sealed = seal_form(key.public_raw, PLAINTEXT)
    with pytest.raises(ValidationFailed) as refused:
        open_form(IntakeKeyPair.generate(), sealed)
    assert refused.value.code == KEY_UNKNOWN


def test_tampered_ciphertext_is_undecryptable(key: IntakeKeyPair) -> None:
    data = json.loads(seal_form(key.public_raw, PLAINTEXT))
    ct = bytearray(unb64url(data["ct"]))
    ct[0] ^= 1
    data["ct"] = b64url(bytes(ct))
    with pytest.raises(ValidationFailed) as refused:
        open_form(key, json.dumps(data))
    assert refused.value.code == UNDECRYPTABLE


def test_swapped_ephemeral_key_is_undecryptable(key: IntakeKeyPair) -> None:
    data = json.loads(seal_form(key.public_raw, PLAINTEXT))
    data["epk"] = b64url(IntakeKeyPair.generate().public_raw)
    with pytest.raises(ValidationFailed) as refused:
        open_form(key, json.dumps(data))
    assert refused.value.code == UNDECRYPTABLE


@pytest.mark.parametrize(
    ("why", "mangle"),
    [
        ("not JSON", lambda _d: "not json"),
        ("a field missing", lambda d: json.dumps({k: v for k, v in d.items() if k != "iv"})),
        ("an extra field", lambda d: json.dumps({**d, "name": "Testy"})),
        ("another version", lambda d: json.dumps({**d, "v": 2})),
        ("a key id of the wrong shape", lambda d: json.dumps({**d, "kid": "k1_abc"})),
        ("an IV that is not base64url", lambda d: json.dumps({**d, "iv": "***"})),
        ("a short IV", lambda d: json.dumps({**d, "iv": b64url(b"123")})),
        ("an ephemeral key that is no point", lambda d: json.dumps({**d, "epk": b64url(b"\x04" + b"\x01" * 64)})),
        ("far too long", lambda d: json.dumps({**d, "ct": "A" * 200_000})),
    ],
)
def test_malformed_is_refused(key: IntakeKeyPair, why: str, mangle: object) -> None:
    data = json.loads(seal_form(key.public_raw, PLAINTEXT))
    sealed = mangle(data)  # type: ignore[operator]
    with pytest.raises(ValidationFailed) as refused:
        open_form(key, sealed)
    assert refused.value.code == SEALED_MALFORMED, why


def test_parse_sealed_checks_shape_only(key: IntakeKeyPair) -> None:
    parts = parse_sealed(seal_form(key.public_raw, PLAINTEXT))
    assert parts.kid == key.key_id


def test_bad_public_key_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        seal_form(b"\x04" + b"\x00" * 64, PLAINTEXT)
    assert refused.value.code == BAD_PUBLIC_KEY


def test_save_and_load(tmp_path: Path, key: IntakeKeyPair) -> None:
    path = tmp_path / "keys" / "intake.pem"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = IntakeKeyPair.load(path)
    assert loaded.key_id == key.key_id
    assert open_form(loaded, seal_form(key.public_raw, PLAINTEXT)) == PLAINTEXT
    with pytest.raises(FileExistsError):
        key.save(path)


def test_the_topic_record_round_trips(key: IntakeKeyPair) -> None:
    at = datetime(2026, 11, 22, 12, 0, 0, 123000, tzinfo=UTC)
    record = PublicSubmission("OD-ABCDEFGH", at, key.key_id, seal_form(key.public_raw, PLAINTEXT))
    assert PublicSubmission.decode(record.encode()) == record
    assert b"McFakeface" not in record.encode()
