"""The outbox, received ids and parked messages on SQLite and real PostgreSQL; the relay on the real broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from connectors.outbox import OutboxStore, Relay, enqueue, record_received
from connectors.sdk.connector import Sealed
from onedoor.kafka.admin import ensure_topics
from tests.factories import World

pytestmark = pytest.mark.integration

WORLD = World.make()


class AgencyBase(DeclarativeBase):
    pass


class CaseNote(AgencyBase):
    """An agency-side change that causes a message."""

    __tablename__ = "test_case_note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


def _sealed(n: int) -> list[Sealed]:
    out = []
    for _ in range(n):
        header = WORLD.header(WORLD.police, [WORLD.council])
        out.append(Sealed(header, WORLD.seal(WORLD.police, [WORLD.council], header=header), frozenset()))
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OutboxStore]:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        url = request.getfixturevalue("postgres_database_url")
    else:
        url = f"sqlite:///{tmp_path / 'connector.sqlite3'}"
    made = OutboxStore(url).create()
    AgencyBase.metadata.create_all(made.engine)
    yield made
    made.close()


def test_messages_commit_with_the_agency_change_or_not_at_all(store: OutboxStore) -> None:
    sealed = _sealed(3)

    def failing_change() -> None:
        with store.transaction() as session:
            session.add(CaseNote(text="referral made"))
            enqueue(session, sealed[:1])
            raise RuntimeError("the agency-side change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert store.pending(10) == [], "rolled back with the change"
    with store.transaction() as session:
        session.add(CaseNote(text="referral made"))
        enqueue(session, sealed)
    pending = store.pending(10)
    assert [p.message_id for p in pending] == [str(s.header.message_id) for s in sealed], "in order"
    first = pending[0]
    assert first.value == sealed[0].value
    assert first.key == str(sealed[0].header.subject_token).encode()
    assert dict(first.headers)["ce_id"] == str(sealed[0].header.message_id).encode()
    assert store.counts().outbox_pending == 3


def test_delivered_rows_leave_the_queue_and_are_pruned_later(store: OutboxStore) -> None:
    store.put(_sealed(5))
    pending = store.pending(3)
    store.mark_delivered([p.id for p in pending], at_ms=1_000)
    assert len(store.pending(10)) == 2
    assert store.pending_count() == 2
    assert store.prune_delivered(before_ms=2_000) == 3
    assert store.pending_count() == 2


def test_received_ids_and_parked_messages(store: OutboxStore) -> None:
    [one, two] = _sealed(2)
    with store.transaction() as session:
        record_received(session, one.header)
        record_received(session, one.header)  # a second record of the same id is a no-op
    assert store.was_received(str(one.header.message_id))
    store.park(two.header, two.value, reason="adapter.unmapped", detail="no mapping", attempts=1)
    store.park(two.header, two.value, reason="handler.failed", detail="KeyError", attempts=3)
    [parked] = store.parked()
    assert (parked.reason, parked.attempts, parked.status) == ("handler.failed", 4, "parked")
    assert store.was_received(str(two.header.message_id)), "parked counts as handled: a copy is not delivered"
    store.retry(parked.id)
    [again] = store.to_retry()
    assert again.value == two.value
    store.unpark(parked.id)
    assert store.counts().parked == 0


async def test_the_relay_drains_the_outbox_to_the_outbound_topic(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topic = f"{topic_prefix}.outbound.test"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    store = OutboxStore(f"sqlite:///{tmp_path / 'connector.sqlite3'}").create()
    sealed = _sealed(1500)
    store.put(sealed)
    relay = Relay(store, bootstrap_servers=kafka_bootstrap, topic=topic, batch=400)
    try:
        assert await relay.drain() == 1500
    finally:
        await relay._close_producer()
    assert store.pending_count() == 0
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen: dict[str, bytes] = {}
    try:
        while len(seen) < 1500:
            batches = await consumer.getmany(timeout_ms=2000)
            assert batches, f"only {len(seen)} of 1500 reached the topic"
            for records in batches.values():
                for record in records:
                    seen[dict(record.headers)["ce_id"].decode()] = record.value
    finally:
        await consumer.stop()
        store.close()
    assert set(seen) == {str(s.header.message_id) for s in sealed}
    assert all(seen[str(s.header.message_id)] == s.value for s in sealed)
