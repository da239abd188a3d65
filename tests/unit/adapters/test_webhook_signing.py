"""Webhook signatures: what the connector signs verifies, and every kind of tampering is refused with its code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.adapters.signing import (
    EXPIRED,
    MALFORMED,
    MISMATCH,
    SECRET_FILE,
    SignatureInvalid,
    create_secret_file,
    load_secret,
    sign,
    signature,
    verify_signature,
)
from onedoor.errors import ValidationFailed

SECRET = b"s" * 40
BODY = b'{"message_id":"m-1","body":{"child":{"given_name":"Testy"}}}'
NOW = 1_800_000_000
MID = "0b7c2f4e-1d2a-4c3b-9e8f-a1b2c3d4e5f6"


def test_a_fresh_signature_verifies_and_returns_its_timestamp() -> None:
    header = sign(SECRET, BODY, MID, timestamp=NOW)
    assert header == f"t={NOW},v1={signature(SECRET, BODY, NOW, MID)}"
    assert verify_signature(SECRET, header, BODY, MID, now=NOW + 10) == NOW
    assert verify_signature(SECRET.decode(), header, BODY, MID, now=NOW) == NOW, "the secret may be given as text"


REFUSED = [
    ("a changed body", sign(SECRET, BODY, MID, timestamp=NOW), BODY.replace(b"Testy", b"Tasty"), NOW, MISMATCH),
    ("another secret", sign(b"x" * 40, BODY, MID, timestamp=NOW), BODY, NOW, MISMATCH),
    (
        "a timestamp changed to look fresh",
        sign(SECRET, BODY, MID, timestamp=NOW).replace(f"t={NOW}", f"t={NOW + 600}"),
        BODY,
        NOW + 600,
        MISMATCH,
    ),
    (
        "a signature older than five minutes (a replay)",
        sign(SECRET, BODY, MID, timestamp=NOW),
        BODY,
        NOW + 301,
        EXPIRED,
    ),
    ("a timestamp far in the future", sign(SECRET, BODY, MID, timestamp=NOW + 3600), BODY, NOW, EXPIRED),
    ("no header at all", None, BODY, NOW, MALFORMED),
    ("a header without a timestamp", f"v1={signature(SECRET, BODY, NOW, MID)}", BODY, NOW, MALFORMED),
    ("a header without a v1 signature", f"t={NOW}", BODY, NOW, MALFORMED),
    ("garbage", "hello", BODY, NOW, MALFORMED),
]


@pytest.mark.parametrize(("case", "header", "body", "now", "code"), REFUSED, ids=[case for case, *_ in REFUSED])
def test_a_tampered_or_stale_request_is_refused_with_its_code(
    case: str, header: str | None, body: bytes, now: int, code: str
) -> None:
    with pytest.raises(SignatureInvalid) as refused:
        verify_signature(SECRET, header, body, MID, now=now)
    assert refused.value.code == code, case
    assert refused.value.http_status == 401
    assert SECRET.decode() not in refused.value.message


def test_a_replay_with_the_message_id_header_changed_is_refused() -> None:
    """The message id is signed: a replay inside the tolerance under a new id cannot slip past deduplication."""
    header = sign(SECRET, BODY, MID, timestamp=NOW)
    other = "ffffffff-1d2a-4c3b-9e8f-a1b2c3d4e5f6"
    with pytest.raises(SignatureInvalid) as refused:
        verify_signature(SECRET, header, BODY, other, now=NOW + 5)
    assert refused.value.code == MISMATCH
    assert verify_signature(SECRET, header, BODY, MID, now=NOW + 5) == NOW


@pytest.mark.parametrize("message_id", [None, "", "a.b", "id with spaces", "\u00e9t\u00e9", "x" * 129])
def test_a_missing_or_ill_formed_message_id_header_is_malformed(message_id: str | None) -> None:
    header = sign(SECRET, BODY, MID, timestamp=NOW)
    with pytest.raises(SignatureInvalid) as refused:
        verify_signature(SECRET, header, BODY, message_id, now=NOW)
    assert refused.value.code == MALFORMED
    assert refused.value.http_status == 401


def test_signing_refuses_a_message_id_that_would_make_the_signed_text_ambiguous() -> None:
    with pytest.raises(ValueError, match="message id"):
        sign(SECRET, BODY, "a.b", timestamp=NOW)


@pytest.mark.parametrize(
    "value",
    ["\u00e9" * 64, "\u0663" * 64, "zz" + "0" * 62, "", "0" * 200, "ab cd"],
    ids=["non-ascii letters", "non-ascii digits", "not hex", "empty", "too long", "a space inside"],
)
def test_a_v1_value_that_is_not_hex_is_malformed_not_a_crash(value: str) -> None:
    """compare_digest raises TypeError on non-ASCII text: the parser refuses it first (a 401, not a 500)."""
    with pytest.raises(SignatureInvalid) as refused:
        verify_signature(SECRET, f"t={NOW},v1={value}", BODY, MID, now=NOW)
    assert refused.value.code == MALFORMED
    assert refused.value.http_status == 401


def test_a_non_hex_value_beside_a_good_one_is_still_malformed() -> None:
    header = f"t={NOW},v1=\u00e9\u00e9,v1={signature(SECRET, BODY, NOW, MID)}"
    with pytest.raises(SignatureInvalid) as refused:
        verify_signature(SECRET, header, BODY, MID, now=NOW)
    assert refused.value.code == MALFORMED


def test_one_matching_signature_of_several_is_enough_while_a_secret_is_rotated() -> None:
    old = signature(b"o" * 40, BODY, NOW, MID)
    header = f"t={NOW},v1={old},v1={signature(SECRET, BODY, NOW, MID)}"
    assert verify_signature(SECRET, header, BODY, MID, now=NOW) == NOW


def test_the_tolerance_is_the_callers_choice() -> None:
    header = sign(SECRET, BODY, MID, timestamp=NOW)
    assert verify_signature(SECRET, header, BODY, MID, tolerance_s=3600, now=NOW + 1800) == NOW
    with pytest.raises(SignatureInvalid):
        verify_signature(SECRET, header, BODY, MID, tolerance_s=60, now=NOW + 61)


def test_a_new_secret_file_is_owner_only_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "webhook.secret"
    secret = create_secret_file(path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert load_secret(path) == secret
    with pytest.raises(FileExistsError):
        create_secret_file(path)


def test_a_secret_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "webhook.secret"
    path.write_bytes(b"k" * 64)
    os.chmod(path, 0o644)
    with pytest.raises(ValidationFailed) as refused:
        load_secret(path, adapter="case-system")
    assert refused.value.code == SECRET_FILE
    assert "chmod 600" in refused.value.message
    assert "case-system" in refused.value.message
    assert "kkkk" not in refused.value.message


def test_a_short_or_missing_secret_file_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short.secret"
    short.write_bytes(b"tooshort\n")
    os.chmod(short, 0o600)
    with pytest.raises(ValidationFailed, match="shorter than 32 bytes"):
        load_secret(short)
    with pytest.raises(ValidationFailed, match="cannot read the secret file"):
        load_secret(tmp_path / "absent.secret")
