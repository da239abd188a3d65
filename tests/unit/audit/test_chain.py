"""The pure hash chain: every kind of tampering is found, and named at the right record."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit import chain
from hub.audit.checkpoints import SignatureChecker, sign
from hub.audit.models import AuditEvent

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _event(i: int) -> dict[str, Any]:
    return {
        "at": T0 + timedelta(seconds=i, microseconds=7),
        "kind": "route.delivered" if i % 2 else "api.authz",
        "actor": "met-police",
        "outcome": "delivered" if i % 2 else "permit",
        "reason_code": None,
        "message_id": f"00000000-0000-4000-8000-{i:012d}",
        "correlation_id": None,
        "contract": "onedoor.referral.Referral",
        "contract_version": 1,
        "recipients": "lb-hackney-csc",
        "source": f"onedoor.out.met-police:0:{i}",
        "expires_at": T0 + timedelta(days=7),
        "agreement_id": "isa-met-hackney",
        "agreement_version": 2,
        "purpose": "safeguarding-referral",
        "subject_token": "st1_" + "a" * 20,
        "detail": "synthetic",
        "latency_ms": 12,
    }


def _chain(count: int, start: int = 1) -> list[dict[str, Any]]:
    rows, prev = [], chain.GENESIS
    for seq in range(1, start + count):
        event = _event(seq)
        digest = chain.row_hash(seq, prev, event)
        if seq >= start:
            rows.append({"id": seq + 100, "seq": seq, "prev_hash": prev, "row_hash": digest, **event})
        prev = digest
    return rows


def test_hashed_fields_are_every_column_but_the_chain_and_id() -> None:
    columns = [c.name for c in AuditEvent.__table__.columns]
    assert set(chain.HASHED_FIELDS) == set(columns) - {"id", "seq", "prev_hash", "row_hash"}


def test_an_intact_chain_verifies() -> None:
    report = chain.verify_chain(_chain(50), head=chain.ChainHead(50, _chain(50)[-1]["row_hash"]))
    assert report.ok
    assert (report.rows, report.first_seq, report.last_seq, report.purged) == (50, 1, 50, False)


def test_the_encoding_is_stable_across_value_types() -> None:
    event = _event(3)
    naive = {**event, "at": event["at"].replace(tzinfo=None), "contract_version": "1"}
    other_zone = {**event, "at": event["at"].astimezone(__import__("zoneinfo").ZoneInfo("Europe/London"))}
    h = chain.row_hash(3, chain.GENESIS, event)
    assert chain.row_hash(3, chain.GENESIS, naive) == h
    assert chain.row_hash(3, chain.GENESIS, other_zone) == h
    assert chain.canonical(3, chain.GENESIS, chain.normalise([event.get(f) for f in chain.HASHED_FIELDS])).startswith(
        b'["onedoor.audit/1",3,"' + b"0" * 64 + b'",'
    )


TAMPERS = [
    ("a text column", "actor", "lb-hackney-csc"),
    ("a nullable text column set", "reason_code", "agreement.none"),
    ("a text column nulled", "subject_token", None),
    ("an integer column", "contract_version", 2),
    ("a nullable integer column", "latency_ms", None),
    ("a timestamp by one microsecond", "at", T0 + timedelta(seconds=17, microseconds=8)),
    ("an expiry", "expires_at", T0),
    ("a long text column", "detail", "x" * 500),
]


@pytest.mark.parametrize(("why", "column", "value"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_changing_any_column_names_that_record(why: str, column: str, value: object) -> None:
    rows = _chain(30)
    rows[16][column] = value
    report = chain.verify_chain(rows)
    assert report.problem is not None, why
    assert (report.problem.code, report.problem.seq, report.problem.id) == (chain.ROW_ALTERED, 17, 117)
    assert report.rows == 16


def test_rehashing_an_altered_row_breaks_the_next_link() -> None:
    rows = _chain(10)
    rows[4]["outcome"] = "deny"
    rows[4]["row_hash"] = chain.row_hash(5, rows[4]["prev_hash"], rows[4])
    report = chain.verify_chain(rows)
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq) == (chain.LINK_BROKEN, 6)


def test_rewriting_the_whole_tail_is_caught_by_a_checkpoint() -> None:
    key = Ed25519PrivateKey.generate()
    rows = _chain(10)
    checkpoint = sign(key, 8, rows[7]["row_hash"], T0)
    rows[4]["outcome"] = "deny"
    prev = rows[3]["row_hash"]
    for row in rows[4:]:  # an attacker without the key recomputes every later hash
        row["prev_hash"] = prev
        row["row_hash"] = prev = chain.row_hash(row["seq"], prev, row)
    assert chain.verify_chain(rows).ok  # the chain alone cannot tell
    report = chain.verify_chain(rows, [checkpoint], signature_ok=SignatureChecker.of(key.public_key()))
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq, report.problem.id) == (chain.CHECKPOINT_MISMATCH, 8, 108)


def test_a_deleted_record_in_the_middle_is_missing() -> None:
    rows = _chain(10)
    del rows[5]
    report = chain.verify_chain(rows)
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq) == (chain.RECORD_MISSING, 6)
    assert "seq 7 (id 107)" in report.problem.message


def test_deleted_records_at_the_end_are_found_from_the_head() -> None:
    rows = _chain(10)
    head = chain.ChainHead(10, rows[-1]["row_hash"])
    report = chain.verify_chain(rows[:8], head=head)
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq) == (chain.RECORD_MISSING, 9)


def test_swapping_two_records_positions_alters_them() -> None:
    rows = _chain(10)
    rows[2]["seq"], rows[3]["seq"] = rows[3]["seq"], rows[2]["seq"]
    rows[2], rows[3] = rows[3], rows[2]
    report = chain.verify_chain(rows)
    assert report.problem is not None
    assert report.problem.code in {chain.LINK_BROKEN, chain.ROW_ALTERED}
    assert report.problem.seq == 3


def test_swapping_contents_between_records_alters_the_first() -> None:
    rows = _chain(10)
    for name in chain.HASHED_FIELDS:
        rows[2][name], rows[3][name] = rows[3][name], rows[2][name]
    report = chain.verify_chain(rows)
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq) == (chain.ROW_ALTERED, 3)


def test_a_purged_start_is_said_and_anchored_on_a_checkpoint() -> None:
    key = Ed25519PrivateKey.generate()
    full = _chain(20)
    rows = full[9:]  # seq 1 to 9 expired and were deleted
    checkpoints = [
        sign(key, 5, full[4]["row_hash"], T0),
        sign(key, 9, full[8]["row_hash"], T0),
        sign(key, 15, full[14]["row_hash"], T0),
    ]
    report = chain.verify_chain(rows, checkpoints, signature_ok=SignatureChecker.of(key.public_key()))
    assert report.ok
    assert (report.first_seq, report.purged, report.checkpoints, report.unanchored_checkpoints) == (10, True, 1, 2)
    assert "rows 1 to 9" in report.notes[0]


def test_a_purged_start_that_does_not_follow_its_checkpoint_is_broken() -> None:
    key = Ed25519PrivateKey.generate()
    full = _chain(20)
    rows = full[9:]
    rows[0]["prev_hash"] = "f" * 64
    rows[0]["row_hash"] = chain.row_hash(10, "f" * 64, rows[0])
    report = chain.verify_chain(
        rows, [sign(key, 9, full[8]["row_hash"], T0)], signature_ok=SignatureChecker.of(key.public_key())
    )
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq) == (chain.LINK_BROKEN, 10)


def test_a_wrong_genesis_link_is_broken() -> None:
    rows = _chain(3)
    rows[0]["prev_hash"] = "1" * 64
    rows[0]["row_hash"] = chain.row_hash(1, "1" * 64, rows[0])
    report = chain.verify_chain(rows)
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq) == (chain.LINK_BROKEN, 1)


FORGERIES = [
    ("signed by another key", lambda c, other: sign(other, c.seq, c.row_hash, c.at)),
    ("hash changed after signing", lambda c, _: dataclasses.replace(c, row_hash="e" * 64)),
    ("time changed after signing", lambda c, _: dataclasses.replace(c, at=c.at + timedelta(seconds=1))),
    ("signature garbage", lambda c, _: dataclasses.replace(c, signature="zz")),
    ("key id swapped", lambda c, _: dataclasses.replace(c, key_id="k1_" + "0" * 32)),
]


@pytest.mark.parametrize(("why", "forge"), FORGERIES, ids=[f[0] for f in FORGERIES])
def test_a_forged_checkpoint_has_a_bad_signature(why: str, forge: Any) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    rows = _chain(10)
    good = sign(key, 6, rows[5]["row_hash"], T0)
    report = chain.verify_chain(rows, [forge(good, other)], signature_ok=SignatureChecker.of(key.public_key()))
    assert report.problem is not None, why
    assert report.problem.code == chain.CHECKPOINT_BAD_SIGNATURE
    assert report.problem.seq == 6


def test_a_checkpoint_past_the_last_row_means_records_are_missing() -> None:
    key = Ed25519PrivateKey.generate()
    rows = _chain(10)
    report = chain.verify_chain(
        rows[:6], [sign(key, 9, rows[8]["row_hash"], T0)], signature_ok=SignatureChecker.of(key.public_key())
    )
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq) == (chain.RECORD_MISSING, 9)


def test_the_first_problem_wins() -> None:
    rows = _chain(10)
    rows[2]["actor"] = "someone-else"
    del rows[6]
    report = chain.verify_chain(rows)
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq) == (chain.ROW_ALTERED, 3)
