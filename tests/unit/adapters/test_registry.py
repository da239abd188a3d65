"""The adapter framework: kinds found through entry points, the adapters file, and adapters used together."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from connectors.adapters.base import (
    AdapterContext,
    AgencyAdapter,
    DeliveryRefused,
    DeliveryRetry,
    Outbound,
    OutboundRequest,
)
from connectors.adapters.registry import (
    Adapters,
    build_adapters,
    installed,
    invalid_options,
    load_adapters,
    read_adapters_file,
)
from connectors.adapters.sql import factory as sql_factory
from connectors.sdk.connector import ReceivedMessage
from connectors.status.index import StatusRecord
from connectors.status.synthetic import known_victim, synthetic_records
from connectors.triage.referral import ALERT, REFERRAL
from hub.fleet.schemas import HeartbeatIn
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from tests.unit.triage.world import received

AGENCY = AgencyId("lb-unit-borough-csc")


class Recorder:
    """An in-memory adapter: takes one contract, holds records, sends what it is given to send."""

    def __init__(
        self,
        name: str,
        *,
        takes: str | None = None,
        records: Iterable[StatusRecord] = (),
        fails: Exception | None = None,
        sends: OutboundRequest | None = None,
    ) -> None:
        self.name = name
        self.takes = takes
        self.records = list(records)
        self.fails = fails
        self.sends = sends
        self.delivered: list[str] = []
        self.closed = False

    def status_records(self) -> Iterable[StatusRecord]:
        return self.records

    async def deliver(self, message: ReceivedMessage) -> bool:
        if message.header.contract != self.takes:
            return False
        if self.fails is not None:
            raise self.fails
        self.delivered.append(message.header.message_id)
        return True

    async def run(self, outbound: Outbound) -> None:
        if self.sends is not None:
            await outbound(self.sends)
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.closed = True


def _context(tmp_path: Path) -> AdapterContext:
    return AdapterContext(AGENCY, tmp_path, tmp_path)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "adapters.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_sql_kind_is_installed_through_the_entry_point() -> None:
    kinds = installed()
    assert "sql" in kinds
    assert kinds["sql"]() is sql_factory


def test_the_recorder_is_an_agency_adapter() -> None:
    assert isinstance(Recorder("r"), AgencyAdapter)


def test_an_unknown_kind_names_the_installed_ones(tmp_path: Path) -> None:
    path = _file(tmp_path, "adapters:\n  - {kind: ftp, name: old-system}\n")
    with pytest.raises(ValidationFailed) as refused:
        load_adapters(path, _context(tmp_path))
    assert refused.value.code == "adapter.unknown_kind"
    assert "'old-system'" in refused.value.message
    assert "'ftp'" in refused.value.message
    assert "sql" in refused.value.message.split("installed:")[1]


def test_two_adapters_with_one_name_are_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, "adapters:\n  - {kind: sql, name: records}\n  - {kind: folder, name: records}\n")
    with pytest.raises(ValidationFailed) as refused:
        read_adapters_file(path)
    assert refused.value.code == "adapter.duplicate_name"
    assert "'records'" in refused.value.message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("adapters: [{kind: sql, name: a, colour: red}]", "adapters.0.colour"),
        ("adapters: [{name: a}]", "adapters.0.kind"),
        ("adapters: {kind: sql}", "adapters"),
        ("adapters: [{kind: sql, name: 'has space'}]", "adapters.0.name"),
    ],
)
def test_a_file_not_in_the_format_says_where(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        read_adapters_file(_file(tmp_path, text))
    assert refused.value.code == "adapter.invalid_file"
    assert where in refused.value.message


def test_a_file_that_is_not_yaml_or_not_there_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as broken:
        read_adapters_file(_file(tmp_path, "adapters: [\n  - {kind: sql"))
    assert broken.value.code == "adapter.invalid_file"
    assert "not valid YAML at line" in broken.value.message
    with pytest.raises(ValidationFailed) as missing:
        read_adapters_file(tmp_path / "nowhere.yaml")
    assert missing.value.code == "adapter.invalid_file"


def test_bad_sql_options_name_the_adapter_and_the_option_never_the_value(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "adapters:\n  - kind: sql\n    name: case-db\n    options:\n"
        "      url: postgresql://user:Sup3rSecret@db/cases\n      status: {table: v, columns: {given_name: g}}\n",
    )
    with pytest.raises(ValidationFailed) as refused:
        load_adapters(path, _context(tmp_path))
    assert refused.value.code == "adapter.invalid_options"
    assert "'case-db'" in refused.value.message
    assert "options.status.columns.record_reference: Field required" in refused.value.message
    assert "Sup3rSecret" not in refused.value.message


def test_a_relative_sqlite_file_that_is_not_there_is_not_made(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "adapters:\n  - kind: sql\n    name: case-db\n    options:\n      url: sqlite:///cases.sqlite3\n"
        "      status: {table: v, columns: {record_reference: r, given_name: g, family_name: f, date_of_birth: d}}\n",
    )
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the code is what matters
        load_adapters(path, _context(tmp_path))
    assert getattr(refused.value, "code", None) == "adapter.sql.unavailable"
    assert not (tmp_path / "cases.sqlite3").exists()


def test_no_file_is_no_adapters_and_the_records_file_alone(tmp_path: Path) -> None:
    adapters = load_adapters(None, _context(tmp_path))
    assert len(adapters) == 0
    assert adapters.index_records(None, None) is None


async def test_records_of_every_adapter_join_the_records_given() -> None:
    given = [known_victim()]
    adapters = Adapters([Recorder("a", records=synthetic_records(3, seed=1)), Recorder("b", records=[])])
    merged = list(adapters.index_records(given, None) or [])
    assert merged[0].record_reference == given[0].record_reference
    assert len(merged) == 4


async def test_a_message_goes_to_each_adapter_that_takes_its_contract() -> None:
    referrals, alerts = Recorder("referrals", takes=str(REFERRAL)), Recorder("alerts", takes=str(ALERT))
    adapters = Adapters([referrals, alerts])
    message = received(str(REFERRAL), {})
    assert await adapters.deliver_all(message) == ["referrals"]
    assert referrals.delivered == [message.header.message_id]
    assert alerts.delivered == []


@pytest.mark.parametrize(
    "error", [DeliveryRetry("adapter.x.down", "down"), DeliveryRefused("adapter.x.unmappable", "cannot map")]
)
async def test_retry_and_refusal_reach_the_inbox_after_the_workbench_has_the_message(error: Exception) -> None:
    seen: list[str] = []

    async def workbench(message: ReceivedMessage) -> None:
        seen.append(message.header.message_id)

    adapters = Adapters([Recorder("db", takes=str(REFERRAL), fails=error)])
    message = received(str(REFERRAL), {})
    with pytest.raises(type(error)) as raised:
        await adapters.after(workbench)(message)
    assert raised.value is error
    assert seen == [message.header.message_id]


async def test_run_loops_send_through_outbound_and_stop_on_close() -> None:
    request = OutboundRequest(str(REFERRAL), 1, (AgencyId("lb-other-csc"),), "safeguarding-referral", {}, "f:1")
    sent: list[OutboundRequest] = []

    async def outbound(item: OutboundRequest) -> None:
        sent.append(item)

    sender, quiet = Recorder("folder", sends=request), Recorder("db")
    adapters = Adapters([sender, quiet])
    async with adapters.running(outbound):
        for _ in range(50):
            if sent:
                break
            await asyncio.sleep(0.01)
        assert adapters.problems == []
    assert sent == [request]
    assert sender.closed
    assert quiet.closed


class Crashing(Recorder):
    """An adapter whose run loop fails at once."""

    async def run(self, outbound: Outbound) -> None:
        del outbound
        raise RuntimeError("the agency system went away")


async def test_a_failed_run_loop_is_a_problem_the_hub_heartbeat_accepts() -> None:
    adapters = Adapters([Crashing("Council-DB.main"), Recorder("folder")])

    async def outbound(item: OutboundRequest) -> None:
        pass

    async with adapters.running(outbound):
        for _ in range(100):
            if adapters.problems:
                break
            await asyncio.sleep(0.01)
        problems = adapters.problems
    assert problems == ["adapter.stopped.council-db.main"]
    # The heartbeat's own schema: a code that does not fit would have the whole heartbeat refused.
    HeartbeatIn.model_validate(
        {
            "version": "test",
            "sent_at": "2026-11-22T12:00:00Z",
            "interval_s": 30,
            "signing_key_id": "k1_" + "0" * 32,
            "encryption_key_id": "k1_" + "1" * 32,
            "problems": problems,
        }
    )


async def test_a_failed_factory_closes_the_adapters_already_built(tmp_path: Path) -> None:
    built = Recorder("first")

    def broken(name: str, options: Any, context: AdapterContext) -> AgencyAdapter:
        raise invalid_options(name, "options.url: Field required")

    kinds: dict[str, Any] = {"good": lambda: lambda *_: built, "bad": lambda: broken}
    from connectors.adapters.registry import AdapterEntry  # noqa: PLC0415 - local to this test

    entries = [AdapterEntry(kind="good", name="first"), AdapterEntry(kind="bad", name="second")]
    with pytest.raises(ValidationFailed) as refused:
        build_adapters(entries, _context(tmp_path), kinds=kinds)
    assert refused.value.code == "adapter.invalid_options"
    assert "'second'" in refused.value.message
    await asyncio.sleep(0)
    assert built.closed
