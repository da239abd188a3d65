"""Exactly once from the agency's systems to the broker, and triage decisions with their messages, for real.

1. SQL case events: the connector is killed after the outbox took an event but before its watermark was
   stored; the re-run reads the row again, the outbox adds nothing (idempotency key), and the real broker
   gets every event once.
2. Folder: the same between the outbox and the folder ledger.
3. On PostgreSQL (and SQLite): a decision and its onward message commit together in the workbench's
   database; concurrent decisions give one outbox row; a failure before the commit leaves neither;
   an outbox table from an older connector gains the idempotency key column.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from connectors.adapters.base import AdapterContext
from connectors.adapters.folder import factory as folder_factory
from connectors.adapters.folder_ledger import FolderLedger
from connectors.adapters.registry import sender
from connectors.adapters.sql.events import Watermarks
from connectors.outbox import Durability, Enqueued, OutboxStore
from connectors.reference.seed import seed_database
from connectors.sdk.connector import Connector, Sealed
from connectors.triage.decision import TriageDecision
from connectors.triage.desk import TriageDesk
from connectors.workbench.store import WorkbenchStore
from onedoor.envelope.intake_form import PublicReferralForm
from onedoor.errors import Conflict
from onedoor.kafka.admin import ensure_topics
from tests.factories import World
from tests.integration.test_sql_adapter import _adapter, _events_table, _feed, _options, _report
from tests.unit.adapters.folder_world import COLUMNS, DEFAULTS, HEADER, SUBJECT_COLUMN, csv_line, row
from tests.unit.connectors.world import COUNCIL, POLICE, Agencies
from tests.unit.triage.world import AGENCIES, CHARITY, DESK, may_send_from, received

pytestmark = pytest.mark.integration

WORLD = World.make()


class Crash(Exception):
    """Stands for the connector process being killed."""


async def _connector(tmp_path: Path, bootstrap: str, topic: str) -> tuple[Connector, Durability]:
    await ensure_topics(bootstrap, [topic], partitions=3)
    durability = Durability.open(
        f"sqlite:///{tmp_path / 'connector.sqlite3'}", bootstrap_servers=bootstrap, topic=topic, client_id="test"
    )
    connector = Agencies().connector(POLICE, None)
    connector.outbox = durability.outbox
    return connector, durability


async def _delivered(durability: Durability, bootstrap: str, topic: str, expected: int) -> list[str]:
    """Drain the outbox to the real broker, then read the topic back: the message ids on it."""
    try:
        await durability.relay.drain()
    finally:
        await durability.relay._close_producer()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen: list[str] = []
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1500 if len(seen) < expected else 500)
            if not batches:
                break
            seen += [dict(r.headers)["ce_id"].decode() for records in batches.values() for r in records]
    finally:
        await consumer.stop()
    return seen


async def test_a_sql_event_enqueued_before_a_crash_reaches_the_broker_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agency_db = f"sqlite:///{tmp_path / 'council.sqlite3'}"
    seed_database("council", agency_db, count=3, seed=5, as_of=dt.date(2026, 6, 1))
    reports = _events_table(agency_db)
    _report(agency_db, reports, 1, 2, 3)
    topic = f"{topic_prefix}.outbound.sql-once"
    connector, durability = await _connector(tmp_path, kafka_bootstrap, topic)
    feed = {**_feed("beginning"), "recipients": [str(COUNCIL)]}
    options = _options(agency_db, events=[feed])
    real_put = Watermarks.put

    def crash_at_2(self: Watermarks, adapter: str, name: str, value: Any, key: Any = None) -> None:
        if value == 2:
            raise Crash("killed after the outbox took event 2, before its watermark was stored")
        real_put(self, adapter, name, value, key)

    monkeypatch.setattr(Watermarks, "put", crash_at_2)
    first = _adapter(agency_db, tmp_path, options)
    with pytest.raises(Crash):
        await first.run(sender(connector))
    await first.close()
    assert durability.store.pending_count() == 2

    monkeypatch.setattr(Watermarks, "put", real_put)
    again = _adapter(agency_db, tmp_path, options)
    task = asyncio.create_task(again.run(sender(connector)))
    for _ in range(200):
        if durability.store.pending_count() >= 3:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # a few more polls: nothing more is enqueued
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await again.close()
    assert durability.store.pending_count() == 3, "event 2 was read twice but enqueued once"
    seen = await _delivered(durability, kafka_bootstrap, topic, 3)
    assert len(seen) == len(set(seen)) == 3, seen
    durability.store.close()


async def test_a_folder_row_enqueued_before_a_crash_reaches_the_broker_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"{topic_prefix}.outbound.folder-once"
    connector, durability = await _connector(tmp_path, kafka_bootstrap, topic)
    context = AdapterContext(agency=POLICE, data_dir=tmp_path / "data", base_dir=tmp_path)
    options: dict[str, Any] = {
        "folder": "drop",
        "recipients": [str(COUNCIL)],
        "columns": COLUMNS,
        "subject_token": SUBJECT_COLUMN,
        "defaults": DEFAULTS,
        "date_format": "%d/%m/%Y",
    }
    first = folder_factory("drop", options, context)
    lines = [",".join(HEADER), *(csv_line(row(First_name=f"Testy{i}")) for i in range(4))]
    (first.incoming / "referrals.csv").write_text("\n".join(lines) + "\n")
    real_mark = FolderLedger.mark_sent

    def crash_at_row_4(self: FolderLedger, digest: str, number: int) -> None:
        if number == 4:
            raise Crash("killed after the outbox took row 4, before the ledger recorded it")
        real_mark(self, digest, number)

    monkeypatch.setattr(FolderLedger, "mark_sent", crash_at_row_4)
    await first.scan(sender(connector))
    with pytest.raises(Crash):
        await first.scan(sender(connector))
    await first.close()
    monkeypatch.setattr(FolderLedger, "mark_sent", real_mark)
    again = folder_factory("drop", options, context)
    await again.scan(sender(connector))
    [outcome] = await again.scan(sender(connector))
    await again.close()
    assert outcome.sent == 4
    seen = await _delivered(durability, kafka_bootstrap, topic, 4)
    assert len(seen) == len(set(seen)) == 4, seen
    durability.store.close()


# Triage decisions and their onward messages, in one database (SQLite, PostgreSQL)


class _Sealer:
    def __init__(self, outbox: Any) -> None:
        self.outbox = outbox

    def seal(self, **message: Any) -> list[Sealed]:
        header = received(str(message["contract"]), {}, sender=DESK, recipient=message["recipients"][0]).header
        return [Sealed(header, b"sealed:" + str(header.message_id).encode(), frozenset())]

    async def send(self, **_message: Any) -> list[Any]:
        raise AssertionError("the desk must enqueue in its own transaction, not send")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        yield str(request.getfixturevalue("postgres_database_url"))
    else:
        yield f"sqlite:///{tmp_path / 'workbench.sqlite3'}"


async def test_decisions_and_onward_messages_commit_together(database: str) -> None:
    store = WorkbenchStore(database).create()
    durability = Durability.open(database, bootstrap_servers="unused:9092", topic="t", client_id="test")
    try:
        desk = TriageDesk(
            me=DESK,
            store=store,
            sender=_Sealer(durability.outbox),
            agencies=AGENCIES,
            may_send=may_send_from(DESK),
        )
        assert desk.outbox is durability.outbox, "found on the sender, as the runtime wires it"
        decision = TriageDecision.parse("intervention", str(CHARITY))
        item = desk.receive_public(_form(), reference="OD-ITONCE1", received_at=dt.datetime.now(dt.UTC))
        outcomes = await asyncio.gather(
            *(desk.decide(item.item_id, decision, by=f"officer.n{i}") for i in range(4)), return_exceptions=True
        )
        decided = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(decided) == 1, outcomes
        assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException)), outcomes
        assert [p.message_id for p in durability.store.pending(10)] == [decided[0].onward_message_id]

        class Failing:
            def enqueue(self, session: Session, sealed: Sequence[Sealed], key: str | None = None) -> Enqueued:
                durability.outbox.enqueue(session, sealed, key)
                raise RuntimeError("died before the commit")

            def same_database(self, _engine: Any) -> bool:
                return True

        other = desk.receive_public(_form(), reference="OD-ITONCE2", received_at=dt.datetime.now(dt.UTC))
        desk.outbox = Failing()
        with pytest.raises(RuntimeError):
            await desk.decide(other.item_id, decision, by="officer.one")
        assert store.item(other.item_id).decided_at_ms is None
        assert durability.store.pending_count() == 1, "the failed decision's message was rolled back with it"
    finally:
        durability.store.close()
        store.close()


def test_an_outbox_table_from_an_older_connector_is_upgraded(database: str) -> None:
    store = OutboxStore(database)
    with store.engine.begin() as conn:
        postgres = store.engine.dialect.name == "postgresql"
        blob, ident = ("BYTEA", "SERIAL") if postgres else ("BLOB", "INTEGER")
        conn.execute(
            text(
                f"CREATE TABLE outbox_messages (id {ident} PRIMARY KEY, message_id VARCHAR(36) NOT NULL UNIQUE, "
                f"key {blob} NOT NULL, value {blob} NOT NULL, sender VARCHAR(64) NOT NULL, "
                "contract VARCHAR(200) NOT NULL, contract_version INTEGER NOT NULL, created_at_ms BIGINT NOT NULL, "
                "expires_at_ms BIGINT NOT NULL, enqueued_at_ms BIGINT NOT NULL, delivered_at_ms BIGINT)"
            )
        )
    store.create()
    assert "idempotency_key" in {c["name"] for c in inspect(store.engine).get_columns("outbox_messages")}
    first = store.put(_real_sealed(), idempotency_key="folder:drop:abc:2")
    again = store.put(_real_sealed(), idempotency_key="folder:drop:abc:2")
    assert (first.new, again.new) == (True, False)
    assert [h.message_id for h in again.headers] == [h.message_id for h in first.headers]
    assert store.pending_count() == 1
    store.close()


def _real_sealed() -> list[Sealed]:
    header = WORLD.header(WORLD.police, [WORLD.council])
    return [Sealed(header, WORLD.seal(WORLD.police, [WORLD.council], header=header), frozenset())]


def _form() -> PublicReferralForm:
    return PublicReferralForm.model_validate(
        {
            "referrer": {"relationship": "friend"},
            "child": {"given_name": "Synthia", "family_name": "Example", "estimated_age": 15},
            "concern_categories": ["CRIMINAL_EXPLOITATION"],
            "concern_summary": "Being paid to carry packages.",
            "urgency": "ROUTINE",
            "parent_carer_knows": "not-sure",
        }
    )
