"""The index's bookkeeping on a real (SQLite) database: idempotent ingest, one claim per message, outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub import db
from hub.audit.service import AuditEntry, append_now
from hub.deadletters import service
from hub.deadletters.ingest import store
from hub.deadletters.models import DeadLetter, ReplayState
from hub.router.decide import Limits
from onedoor.db import make_engine, transaction
from onedoor.topics import TopicNames

MESSAGE = "11111111-2222-4333-8444-555555555555"
AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    db.migrate(url)
    engine = make_engine(url)
    try:
        yield db.session_factory(engine)
    finally:
        engine.dispose()


def _row(offset: int, reason: str = "recipient.unknown", at: datetime = AT) -> dict[str, object]:
    return {
        "dl_partition": 0,
        "dl_offset": offset,
        "message_id": MESSAGE,
        "sender": "met",
        "contract": "onedoor.referral.MasterReferral",
        "contract_version": 1,
        "recipients": "lb-x",
        "reason_code": reason,
        "detail": "recipient lb-x is not a registered active agency",
        "source": "onedoor.out.met:0:1",
        "reported_by": None,
        "rejected_at": at,
        "replay_state": ReplayState.NONE,
        "refused_reason": None,
    }


def _ctx(factory: sessionmaker[Session]) -> service.ReplayContext:
    return service.ReplayContext(
        factory=factory,
        bootstrap=None,
        topics=TopicNames("onedoor"),
        load_tables=lambda: None,
        limits=Limits(max_envelope_bytes=1, max_ttl_ms=1, clock_skew_ms=1),
    )


def _entry() -> AuditEntry:
    return AuditEntry(kind=service.REPLAYED_KIND, outcome="permit", actor="op", message_id=MESSAGE)


def test_a_record_read_twice_is_stored_once(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        assert store(session, [_row(5), _row(6)]) == 2
    with transaction(factory) as session:
        assert store(session, [_row(6), _row(7)]) == 1
    with factory() as session:
        assert [r.dl_offset for r in service.of_message(session, MESSAGE)] == [7, 6, 5]


def test_a_message_is_claimed_for_replay_once(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        store(session, [_row(1), _row(2)])
    ctx = _ctx(factory)
    assert service._claim(ctx, MESSAGE, "op", AT, _entry()) is True
    assert service._claim(ctx, MESSAGE, "op", AT, _entry()) is False, "the second claim finds nothing to claim"
    with factory() as session:
        states = {r.replay_state for r in service.of_message(session, MESSAGE)}
        summary = service.summary(session)
    assert states == {ReplayState.REPLAYED}
    assert summary.awaiting_replay == 0


def test_a_released_claim_can_be_claimed_again(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        store(session, [_row(1)])
    ctx = _ctx(factory)
    assert service._claim(ctx, MESSAGE, "op", AT, _entry())
    service._release(ctx, MESSAGE, AT, _entry())
    with factory() as session:
        [row] = service.of_message(session, MESSAGE)
        assert row.replay_state is ReplayState.NONE
        assert row.replayed_by is None
    assert service._claim(ctx, MESSAGE, "op", AT, _entry())


def test_outcomes_settle_from_the_audit_log_and_later_letters_are_ruled_out(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        store(session, [_row(1)])
    ctx = _ctx(factory)
    replayed_at = datetime.now(UTC)
    assert service._claim(ctx, MESSAGE, "op", replayed_at, _entry())
    with transaction(factory) as session:
        assert service.settle_outcomes(session) == 0, "not routed yet"
    # The replayed copy is refused again: a later dead letter of the same message.
    with transaction(factory) as session:
        store(session, [_row(2, "agreement.suspended", replayed_at + timedelta(seconds=1))])
    with transaction(factory) as session:
        assert service.settle_outcomes(session) == 1
    with factory() as session:
        newer, older = service.of_message(session, MESSAGE)
    assert older.replay_outcome == "rejected: agreement.suspended"
    assert newer.replay_state is ReplayState.REFUSED
    assert "replayed once" in (newer.refused_reason or "")


def test_a_delivered_replay_settles_as_delivered(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        store(session, [_row(1)])
    replayed_at = datetime.now(UTC) - timedelta(seconds=1)
    assert service._claim(_ctx(factory), MESSAGE, "op", replayed_at, _entry())
    append_now(factory, [AuditEntry(kind="route.delivered", outcome="delivered", message_id=MESSAGE)])
    with transaction(factory) as session:
        assert service.settle_outcomes(session) == 1
    with factory() as session:
        [row] = service.of_message(session, MESSAGE)
    assert row.replay_outcome == "delivered"
    assert isinstance(row, DeadLetter)
