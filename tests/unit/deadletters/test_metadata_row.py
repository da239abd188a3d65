"""What the dead-letter index keeps of a record: metadata only, bounded, never a token or a body."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.deadletters.ingest import metadata_row
from hub.deadletters.models import ReplayState
from tests.factories import SENTINEL, SUBJECT, World


def _headers(reason: str, message_id: str | None = None, **extra: str) -> list[tuple[str, bytes]]:
    named = {
        "od_reason": reason,
        "od_detail": "recipient lb-x is not a registered active agency",
        "od_source": "onedoor.out.met:0:41",
        "od_rejected_at": "2026-11-22T10:00:00+00:00",
        "od_sender": "met",
        **extra,
    }
    if message_id:
        named["ce_id"] = message_id
    return [(k, v.encode()) for k, v in named.items()]


def test_a_refusal_that_can_be_fixed_is_indexed_awaiting_replay() -> None:
    world = World.make()
    header = world.header(world.police, [world.council])
    value = world.seal(world.police, [world.council], header=header)
    row = metadata_row(2, 41, value, _headers("recipient.unknown", str(header.message_id)))
    assert row["dl_partition"] == 2
    assert row["dl_offset"] == 41
    assert row["message_id"] == str(header.message_id)
    assert row["contract"] == str(header.contract)
    assert row["contract_version"] == 1
    assert row["recipients"] == str(world.council.agency)
    assert row["reason_code"] == "recipient.unknown"
    assert row["sender"] == "met"
    assert row["rejected_at"] == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert row["replay_state"] is ReplayState.NONE
    assert SUBJECT not in repr(row), "the subject token is never kept"
    assert SENTINEL not in repr(row)


def test_a_tampered_or_malformed_record_is_ruled_out_at_once() -> None:
    row = metadata_row(0, 1, b"not an envelope", _headers("envelope.malformed"))
    assert row["message_id"] is None
    assert row["contract"] is None
    assert row["replay_state"] is ReplayState.REFUSED
    assert row["refused_reason"]
    world = World.make()
    header = world.header(world.police, [world.council])
    value = world.seal(world.police, [world.council], header=header)
    tampered = metadata_row(0, 2, value, _headers("envelope.tampered", str(header.message_id)))
    assert tampered["replay_state"] is ReplayState.REFUSED


def test_a_recipients_report_is_ruled_out() -> None:
    world = World.make()
    header = world.header(world.police, [world.council])
    value = world.seal(world.police, [world.council], header=header)
    row = metadata_row(0, 3, value, _headers("signature.invalid", str(header.message_id), od_reported_by="lb-x"))
    assert row["reported_by"] == "lb-x"
    assert row["replay_state"] is ReplayState.REFUSED


def test_oversized_and_odd_headers_are_bounded() -> None:
    headers = _headers("x" * 500, "not-a-uuid", od_detail="d" * 5000)
    row = metadata_row(0, 4, b"", [*headers, ("od_rejected_at", b"yesterday")])
    assert len(row["reason_code"]) == 64
    assert len(row["detail"]) == 2000
    assert row["message_id"] is None
    assert row["rejected_at"].tzinfo is not None
