"""The intake reader's handling of one record, without a broker: readable, rotated key, unreadable, malformed.

A record is what aiokafka hands over (value, topic, partition, offset, timestamp); the store is real SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.triage import intake
from connectors.triage.intake import IntakeKeys, IntakeReader
from connectors.workbench.store import WorkbenchStore
from onedoor.envelope.intake import IntakeKeyPair, PublicSubmission, seal_form
from onedoor.topics import TopicNames
from tests.unit.triage.world import DESK, desk

FORM = {
    "v": 1,
    "referrer": {"relationship": "neighbour"},
    "child": {"given_name": "Synthia", "family_name": "Example", "estimated_age": 14},
    "concern_categories": ["COUNTY_LINES"],
    "concern_summary": "Synthetic: seen with older men and new phones.",
    "urgency": "ROUTINE",
    "parent_carer_knows": "not-sure",
}
AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


@dataclass
class Record:
    value: bytes
    topic: str = "t.intake.test-triage-desk"
    partition: int = 0
    offset: int = 7
    timestamp: int = int(AT.timestamp() * 1000)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WorkbenchStore]:
    found = WorkbenchStore(f"sqlite:///{tmp_path / 'wb.sqlite3'}").create()
    yield found
    found.close()


def _reader(store: WorkbenchStore, keys: IntakeKeys) -> IntakeReader:
    return IntakeReader(bootstrap="unused:9092", topics=TopicNames("t"), agency=DESK, keys=keys, desk=desk(store))


def _record(key: IntakeKeyPair, reference: str, form: object = FORM) -> Record:
    sealed = seal_form(key.public_raw, json.dumps(form).encode())
    return Record(PublicSubmission(reference, AT, key.key_id, sealed).encode())


async def test_a_backlog_sealed_to_the_previous_key_still_opens_after_a_rotation(store: WorkbenchStore) -> None:
    old, new = IntakeKeyPair.generate(), IntakeKeyPair.generate()
    reader = _reader(store, IntakeKeys(new, [old]))
    before = await reader.handle(_record(old, "OD-TESTOLD1"))
    after = await reader.handle(_record(new, "OD-TESTNEW1"))
    assert {store.item(i).title for i in (before, after)} == {"Synthia Example"}
    assert store.item(before).kind == "referral"
    assert IntakeKeys(new, [old]).key_ids == [new.key_id, old.key_id]


async def test_a_record_that_will_not_open_becomes_an_unreadable_item_not_a_loss(store: WorkbenchStore) -> None:
    lost, current = IntakeKeyPair.generate(), IntakeKeyPair.generate()
    reader = _reader(store, IntakeKeys(current))
    unknown = store.item(await reader.handle(_record(lost, "OD-TESTLOST")))
    assert (unknown.kind, unknown.status, unknown.reference) == ("unreadable", "unreadable", "OD-TESTLOST")
    assert unknown.body["reason"] == "intake.key_unknown"
    assert unknown.received_at == AT
    assert "Synthia" not in json.dumps(unknown.body), "no plaintext"
    assert unknown.body["sealed"], "the sealed form is kept, still encrypted"

    invalid = store.item(await reader.handle(_record(current, "OD-TESTBADF", {**FORM, "urgency": "SOMETIME"})))
    assert (invalid.kind, invalid.body["reason"]) == ("unreadable", "intake.form_invalid")
    assert "Synthia" not in json.dumps(invalid.body)

    malformed = store.item(await reader.handle(Record(b"\x00\x01not avro", offset=12)))
    assert (malformed.kind, malformed.reference) == ("unreadable", None)
    assert malformed.body["reason"] == "intake.record_malformed"
    assert malformed.body["record"] == "t.intake.test-triage-desk:0:12"

    again = await reader.handle(_record(lost, "OD-TESTLOST"))
    assert again == unknown.item_id, "a redelivered record is stored once"
    assert len(store.items()) == 3


class FakeConsumer:
    """Hands over one batch until it is committed; records commits and rewinds."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.commits = 0
        self.rewinds = 0

    async def getmany(self, **_kw: object) -> dict[str, list[Record]]:
        if self.commits:
            await asyncio.sleep(3600)
        return {"tp": self.records}

    async def commit(self) -> None:
        self.commits += 1

    def assignment(self) -> list[str]:
        return ["tp"]

    async def seek_to_committed(self, _tp: str) -> None:
        self.rewinds += 1


async def test_the_offset_is_committed_only_after_the_item_is_stored(
    store: WorkbenchStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = IntakeKeyPair.generate()
    reader = _reader(store, IntakeKeys(key))
    consumer = FakeConsumer([_record(key, "OD-TESTCOMM")])
    reader._consumer = consumer  # type: ignore[assignment]
    monkeypatch.setattr(intake, "RETRY_S", 0.01)
    failures = [RuntimeError("the database is locked")]
    real = reader._desk.receive_public

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(reader._desk, "receive_public", flaky)
    task = asyncio.create_task(reader.run())
    try:
        for _ in range(200):
            if consumer.commits:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert consumer.rewinds == 1, "the failed batch was read again from the last commit"
    assert consumer.commits == 1
    [item] = store.items()
    assert item.reference == "OD-TESTCOMM"


async def test_an_unreadable_referral_opens_once_its_previous_key_is_configured(store: WorkbenchStore) -> None:
    lost, current = IntakeKeyPair.generate(), IntakeKeyPair.generate()
    without = _reader(store, IntakeKeys(current))
    item_id = await without.handle(_record(lost, "OD-TESTFIND"))
    invalid_id = await without.handle(_record(current, "OD-TESTBAD2", {**FORM, "urgency": "SOMETIME"}))
    assert without.reopen_unreadable() == 0, "nothing new to open with"
    with_old_key = _reader(store, IntakeKeys(current, [lost]))
    assert with_old_key.reopen_unreadable() == 1
    found = store.item(item_id)
    assert (found.kind, found.status, found.title, found.reference) == (
        "referral",
        "received",
        "Synthia Example",
        "OD-TESTFIND",
    )
    assert store.item(invalid_id).kind == "unreadable", "a form that does not validate stays unreadable"
    assert with_old_key.reopen_unreadable() == 0
