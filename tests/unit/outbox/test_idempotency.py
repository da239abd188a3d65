"""Idempotency keys in the outbox: a second send under a key adds nothing; an older database gains the column.

Real SQLite files and real sealing (``tests.unit.connectors.world``); no broker is needed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect

from connectors.outbox import Durability, OutboxStore
from connectors.outbox.models import IDEMPOTENCY_INDEX
from connectors.sdk.connector import IDEMPOTENCY_NEEDS_OUTBOX, Sealed
from connectors.synthetic import referral
from onedoor.errors import ValidationFailed
from onedoor.ids import Purpose
from tests.unit.connectors.world import COUNCIL, POLICE, REFERRAL, Agencies

PURPOSE = Purpose("safeguarding-referral")


def _durability(tmp_path: Path) -> Durability:
    return Durability.open(
        f"sqlite:///{tmp_path / 'connector.sqlite3'}", bootstrap_servers="unused:9092", topic="t", client_id="test"
    )


def _sealed(agencies: Agencies, n: int) -> list[Sealed]:
    return agencies.connector(POLICE, None).seal(
        contract=REFERRAL, version=1, recipients=[COUNCIL], purpose=PURPOSE, body=referral(n)
    )


def test_a_key_used_before_adds_nothing_and_answers_the_first_headers(tmp_path: Path) -> None:
    agencies = Agencies()
    durability = _durability(tmp_path)
    first = durability.store.put(_sealed(agencies, 1), idempotency_key="folder:drop:abc:1")
    again = durability.store.put(_sealed(agencies, 1), idempotency_key="folder:drop:abc:1")
    other = durability.store.put(_sealed(agencies, 1), idempotency_key="folder:drop:abc:2")
    unkeyed = [durability.store.put(_sealed(agencies, 1)) for _ in range(2)]
    assert (first.new, again.new, other.new) == (True, False, True)
    assert [h.message_id for h in again.headers] == [h.message_id for h in first.headers]
    assert other.headers[0].message_id != first.headers[0].message_id
    assert all(u.new for u in unkeyed), "no key: every send is new (several nulls are allowed)"
    assert durability.store.pending_count() == 4
    durability.store.close()


def test_a_key_stays_unique_inside_a_callers_transaction_too(tmp_path: Path) -> None:
    agencies = Agencies()
    durability = _durability(tmp_path)
    with durability.store.transaction() as session:
        kept = durability.outbox.enqueue(session, _sealed(agencies, 2), idempotency_key="k-1")
        again = durability.outbox.enqueue(session, _sealed(agencies, 2), idempotency_key="k-1")
    assert (kept.new, again.new) == (True, False)
    assert again.headers[0].message_id == kept.headers[0].message_id
    assert durability.store.pending_count() == 1
    durability.store.close()


async def test_connector_send_with_a_key_goes_through_the_outbox_once(tmp_path: Path) -> None:
    agencies = Agencies()
    durability = _durability(tmp_path)
    connector = agencies.connector(POLICE, None)
    connector.outbox = durability.outbox
    message = {"contract": REFERRAL, "version": 1, "recipients": [COUNCIL], "purpose": PURPOSE, "body": referral(3)}
    first = await connector.send(**message, idempotency_key="sql:events:missing:7")
    again = await connector.send(**message, idempotency_key="sql:events:missing:7")
    assert [h.message_id for h in again] == [h.message_id for h in first]
    [pending] = durability.store.pending(10)
    assert pending.message_id == str(first[0].message_id)
    durability.store.close()


async def test_connector_send_with_a_key_and_no_outbox_is_refused_before_anything_is_sent() -> None:
    connector = Agencies().connector(POLICE, None)  # never started: a publish would fail differently
    with pytest.raises(ValidationFailed) as refused:
        await connector.send(
            contract=REFERRAL, version=1, recipients=[COUNCIL], purpose=PURPOSE, body=referral(4), idempotency_key="k"
        )
    assert refused.value.code == IDEMPOTENCY_NEEDS_OUTBOX


def test_an_outbox_from_an_older_connector_gains_the_key_column_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    # The table as the first outbox release made it (no idempotency_key), with a message still pending.
    db.execute(
        "CREATE TABLE outbox_messages (id INTEGER NOT NULL PRIMARY KEY, message_id VARCHAR(36) NOT NULL UNIQUE, "
        "key BLOB NOT NULL, value BLOB NOT NULL, sender VARCHAR(64) NOT NULL, contract VARCHAR(200) NOT NULL, "
        "contract_version INTEGER NOT NULL, created_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL, "
        "enqueued_at_ms BIGINT NOT NULL, delivered_at_ms BIGINT)"
    )
    db.execute(
        "INSERT INTO outbox_messages VALUES (1, '00000000-0000-4000-8000-000000000001', x'6b', x'76', "
        "'test-county-police', 'onedoor.referral.MasterReferral', 1, 1, 2, 1, NULL)"
    )
    db.commit()
    db.close()

    store = OutboxStore(f"sqlite:///{path}").create()
    columns = {c["name"] for c in inspect(store.engine).get_columns("outbox_messages")}
    indexes = {i["name"]: i["unique"] for i in inspect(store.engine).get_indexes("outbox_messages")}
    assert "idempotency_key" in columns
    assert indexes.get(IDEMPOTENCY_INDEX) in (True, 1)
    [old] = store.pending(10)
    assert old.message_id == "00000000-0000-4000-8000-000000000001", "the pending message survived the upgrade"
    agencies = Agencies()
    assert store.put(_sealed(agencies, 5), idempotency_key="k").new
    assert not store.put(_sealed(agencies, 5), idempotency_key="k").new
    assert store.pending_count() == 2
    store.close()
    assert OutboxStore(f"sqlite:///{path}").create().pending_count() == 2, "opening it again changes nothing"


def test_a_keyed_send_of_many_envelopes_answers_them_all_in_order(tmp_path: Path) -> None:
    agencies = Agencies()
    durability = _durability(tmp_path)
    many = [item for n in range(120) for item in _sealed(agencies, n)]  # more than one lookup chunk
    first = durability.store.put(many, idempotency_key="outbound:many")
    again = durability.store.put(_sealed(agencies, 999), idempotency_key="outbound:many")
    assert (first.new, again.new) == (True, False)
    assert [h.message_id for h in again.headers] == [s.header.message_id for s in many]
    assert durability.store.pending_count() == 120
    durability.store.close()
