"""The status index follows the agency's records while the connector runs.

1. a record added in the agency's system is answered after a refresh (the responder uses the new index);
2. an unchanged set of records (even in another order) builds nothing and swaps nothing;
3. a failing read keeps the old index, is logged by type and code only, and is a problem until a success;
4. a check being answered keeps the index it looked up, even if a refresh swaps one in meanwhile;
5. the refresh runs by itself every interval; 0 turns it off;
6. a records file that is not JSON is ``status.invalid_records``, never quoting its text;
7. the interval is ``ONEDOOR_CONNECTOR_STATUS_REFRESH_SECONDS`` (default 300, 0 off, never negative).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from connectors.adapters.base import Outbound
from connectors.adapters.registry import Adapters
from connectors.agent.config import load_config
from connectors.agent.status_refresh import (
    INDEX_REFRESHED,
    REFRESH_FAILED,
    Refreshed,
    StatusRefresh,
    StatusSource,
    digest,
    status_refresh_of,
)
from connectors.identity import derive_tokens
from connectors.sdk import ReceivedMessage
from connectors.status import (
    STATUS_CHECK,
    VICTIM_IDENTIFICATION,
    CheckNotice,
    DisclosureLog,
    StatusIndex,
    StatusResponder,
)
from connectors.status.index import StatusRecord, write_records
from connectors.status.messages import StatusFlag, check_body
from connectors.status.synthetic import known_victim, synthetic_records
from onedoor.errors import Unavailable, ValidationFailed
from tests.unit.agent.fakes import TOKEN, config
from tests.unit.status.world import COUNCIL, POLICE, VICTIM, Exchange

# The victim, as the council held them before: known, but not (yet) flagged as a victim of exploitation.
NOT_YET_FLAGGED = replace(known_victim(), flags=frozenset[StatusFlag]())


class ChangingSystem:
    """An agency system behind an adapter: its status records are whatever ``records`` holds at each read."""

    name = "fake-case-system"

    def __init__(self, records: Iterable[StatusRecord]) -> None:
        self.records = list(records)
        self.reads = 0
        self.fail: Exception | None = None

    def status_records(self) -> Iterable[StatusRecord]:
        self.reads += 1
        if self.fail is not None:
            raise self.fail
        return list(self.records)

    async def deliver(self, message: ReceivedMessage) -> bool:  # noqa: ARG002 - the adapter interface
        return False

    async def run(self, outbound: Outbound) -> None:  # noqa: ARG002 - the adapter interface
        return

    async def close(self) -> None:
        return


def _check(exchange: Exchange) -> ReceivedMessage:
    """A status check from the police about ``VICTIM``, as the council receives it."""
    now = int(time.time() * 1000)
    body = check_body(derive_tokens(VICTIM, exchange.key), soft_deadline_ms=now, hard_deadline_ms=now + 10_000)
    (sealed,) = exchange.connectors[POLICE].seal(
        contract=STATUS_CHECK, version=1, recipients=[COUNCIL], purpose=VICTIM_IDENTIFICATION, body=body
    )
    return exchange.connectors[COUNCIL].open(sealed.value)


def _world(
    exchange: Exchange, system: ChangingSystem, log: DisclosureLog, **kwargs: Any
) -> tuple[StatusResponder, StatusRefresh]:
    responder = StatusResponder(
        exchange.connectors[COUNCIL], StatusIndex.build(system.records, exchange.key), disclosures=log, **kwargs
    )
    refresh = status_refresh_of(
        responder, exchange.key, every_s=0.02, records=None, records_path=None, adapters=Adapters([system])
    )
    assert refresh is not None
    return responder, refresh


def _flags(responder: StatusResponder, exchange: Exchange) -> list[frozenset[StatusFlag]]:
    return [record.flags for record, _ in responder.index.lookup(derive_tokens(VICTIM, exchange.key))]


async def test_a_record_changed_in_the_agency_system_is_answered_after_a_refresh() -> None:
    exchange = Exchange()
    system = ChangingSystem(synthetic_records(10))
    with DisclosureLog() as log:
        responder, refresh = _world(exchange, system, log)
        before = await responder.handle(_check(exchange))
        assert (before.replied, before.matches) == (True, 0), "not known yet: a 'no record' answer"

        system.records.append(NOT_YET_FLAGGED)
        with capture_logs() as logs:
            assert await refresh.refresh_now() == Refreshed(changed=True, records=11)
        assert _flags(responder, exchange) == [frozenset()], "known now, no flag yet"
        [line] = [e for e in logs if e["event"] == INDEX_REFRESHED]
        assert (line["records"], line["before"]) == (11, 10), "counts only"

        # The council records that the child is a victim of exploitation.
        system.records[-1] = known_victim()
        assert await refresh.refresh_now() == Refreshed(changed=True, records=11)
        after = await responder.handle(_check(exchange))
        assert (after.replied, after.matches) == (True, 1)
        assert _flags(responder, exchange) == [known_victim().flags]
        [disclosed] = log.for_record(known_victim().record_reference)
        assert disclosed.requester == POLICE
        assert refresh.rebuilds == 2


async def test_an_unchanged_set_of_records_builds_nothing() -> None:
    exchange = Exchange()
    system = ChangingSystem([*synthetic_records(10), known_victim()])
    with DisclosureLog() as log:
        responder, refresh = _world(exchange, system, log)
        first = responder.index
        assert await refresh.refresh_now() == Refreshed(changed=False, records=11)
        system.records.reverse()  # the database returned its rows in another order
        assert await refresh.refresh_now() == Refreshed(changed=False, records=11)
        assert responder.index is first
        assert (refresh.refreshes, refresh.rebuilds, system.reads) == (2, 0, 2)
    assert digest(system.records) == digest(reversed(system.records))
    assert digest(system.records) != digest(system.records[1:])


async def test_a_failed_read_keeps_the_old_index_and_is_a_problem_until_a_refresh_succeeds() -> None:
    exchange = Exchange()
    system = ChangingSystem(synthetic_records(10))
    with DisclosureLog() as log:
        responder, refresh = _world(exchange, system, log)
        first = responder.index
        system.records.append(known_victim())
        system.fail = Unavailable("adapter.sql.unavailable", "cannot read row for Jonathan Testwood-Fakeley")
        with capture_logs() as logs:
            assert await refresh.refresh_now() is None
            assert await refresh.refresh_now() is None
        assert responder.index is first, "the old index still answers"
        assert refresh.problems == [REFRESH_FAILED]
        failed = [e for e in logs if e["event"] == REFRESH_FAILED]
        assert len(failed) == 2
        assert (failed[0]["error"], failed[0]["code"]) == ("Unavailable", "adapter.sql.unavailable")
        assert "Testwood" not in repr(logs), "never the error's message: it may quote a row"

        system.fail = None
        assert await refresh.refresh_now() == Refreshed(changed=True, records=11)
        assert refresh.problems == []
        assert _flags(responder, exchange) == [known_victim().flags]


async def test_a_check_being_answered_keeps_the_index_it_looked_up() -> None:
    exchange = Exchange()
    system = ChangingSystem([*synthetic_records(10), known_victim()])
    swapped: list[str] = []
    with DisclosureLog() as log:

        async def swap_while_answering(notice: CheckNotice) -> None:
            # A refresh lands while the check is being answered: the record is gone from the new index.
            system.records = synthetic_records(10)
            assert await refresh.refresh_now() == Refreshed(changed=True, records=10)
            swapped.append(notice.record_ref)

        responder, refresh = _world(exchange, system, log, on_checked=swap_while_answering)
        outcome = await responder.handle(_check(exchange))
        assert swapped == [known_victim().record_reference]
        assert (outcome.replied, outcome.matches) == (True, 1), "answered from the index it started with"
        later = await responder.handle(_check(exchange))
        assert (later.replied, later.matches) == (True, 0), "the next check uses the new one"


async def test_the_refresh_runs_every_interval_and_zero_turns_it_off() -> None:
    exchange = Exchange()
    system = ChangingSystem(synthetic_records(5))
    with DisclosureLog() as log:
        responder, refresh = _world(exchange, system, log)
        loop = refresh.supervised()
        task = loop.start()
        try:
            system.records.append(known_victim())
            deadline = time.monotonic() + 5
            while len(responder.index) != 6:
                assert time.monotonic() < deadline, "no refresh within 5 s of a 0.02 s interval"
                await asyncio.sleep(0.01)
            assert loop.problems == []
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert (
            status_refresh_of(
                responder, exchange.key, every_s=0, records=None, records_path=None, adapters=Adapters([system])
            )
            is None
        )


def test_a_records_file_that_is_not_json_is_invalid_records_without_its_text(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    path.write_text('[{"given_name": "Synthia Example",')
    with pytest.raises(ValidationFailed) as raised:
        StatusSource(records_path=path)()
    assert raised.value.code == "status.invalid_records"
    assert "Synthia" not in raised.value.message
    write_records(path, [known_victim()])
    assert StatusSource(records_path=path)() == [known_victim()]
    assert StatusSource(records=[known_victim()], records_path=path)() == [known_victim()], "given records win"


def test_the_interval_comes_from_the_environment_and_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config(tmp_path).status_refresh_seconds == 300.0, "every 5 minutes by default"
    for name, value in {
        "AGENCY": str(COUNCIL),
        "KEYS_DIR": str(tmp_path / "keys"),
        "MATCHING_KEY_PATH": str(tmp_path / "matching.key"),
        "DISCLOSURE_LOG_PATH": str(tmp_path / "disclosures.sqlite3"),
        "API__TOKEN": TOKEN,
        "STATUS_REFRESH_SECONDS": "0.5",
    }.items():
        monkeypatch.setenv(f"ONEDOOR_CONNECTOR_{name}", value)
    assert load_config().status_refresh_seconds == 0.5
    monkeypatch.setenv("ONEDOOR_CONNECTOR_STATUS_REFRESH_SECONDS", "-1")
    with pytest.raises(ValidationFailed) as raised:
        load_config()
    assert raised.value.code == "connector.invalid_config"
    assert "ONEDOOR_CONNECTOR_STATUS_REFRESH_SECONDS" in raised.value.message
