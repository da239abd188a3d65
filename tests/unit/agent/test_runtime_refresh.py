"""The running connector (broker replaced) keeps its status index fresh and its background loops supervised.

1. the records file changed while the connector runs: the index follows within an interval, no restart;
2. a records file that cannot be read is ``status.refresh_failed`` on ``/healthz`` (503) until it is fixed;
3. a policy refresh loop that crashes is ``connector.task_failed.policy-refresh``, restarts, and clears;
   the connector keeps running all along.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.agent import runtime
from connectors.agent.api import create_app
from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import ConnectorProcess, running_connector
from connectors.identity import MatchingKey, derive_tokens
from connectors.status.index import write_records
from connectors.status.messages import StatusFlag
from connectors.status.synthetic import known_victim, synthetic_records
from onedoor.envelope.keys import AgencyKeyPair
from tests.unit.agent.fakes import COUNCIL, POLICE, TOKEN, config
from tests.unit.agent.test_runtime import FakeConnector, FakeHub, _directory
from tests.unit.status.world import VICTIM

NOT_YET_FLAGGED = replace(known_victim(), flags=frozenset[StatusFlag]())


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ConnectorConfig, FakeHub]:
    council, police = AgencyKeyPair.generate(COUNCIL), AgencyKeyPair.generate(POLICE)
    council.save(tmp_path / "keys")
    MatchingKey.generate().save(tmp_path / "matching.key")
    write_records(tmp_path / "records.json", [*synthetic_records(20, seed=1), NOT_YET_FLAGGED])
    monkeypatch.setattr(runtime, "Connector", FakeConnector)
    monkeypatch.setattr(runtime, "PUMP_RETRY_S", 0.01)
    FakeConnector.runs = 0
    settings = config(
        tmp_path, records_path=tmp_path / "records.json", policy_refresh_seconds=0.05, status_refresh_seconds=0.05
    )
    return settings, FakeHub(_directory(council, police))


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _victim_flags(process: ConnectorProcess) -> list[frozenset[StatusFlag]]:
    key = MatchingKey.load(process.config.matching_key_path)
    return [record.flags for record, _ in process.responder.index.lookup(derive_tokens(VICTIM, key))]


async def _healthz(process: ConnectorProcess) -> tuple[int, dict[str, Any]]:
    app = create_app(process.config, process)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://connector") as api:
        answer = await api.get("/healthz")
    body: dict[str, Any] = answer.json()
    return answer.status_code, body


async def test_a_records_file_changed_while_running_is_followed_without_a_restart(
    world: tuple[ConnectorConfig, FakeHub],
) -> None:
    settings, hub = world
    assert settings.records_path is not None
    async with hub.client() as client, running_connector(settings, bootstrap="fake:9092", client=client) as process:
        assert _victim_flags(process) == [frozenset()]
        first = process.responder.index
        await asyncio.sleep(0.2)  # a few idle refreshes
        assert process.responder.index is first, "nothing changed: nothing rebuilt"
        assert process.status_refresh is not None
        assert process.status_refresh.refreshes >= 2

        write_records(settings.records_path, [*synthetic_records(20, seed=1), known_victim()])
        await _until(lambda: _victim_flags(process) == [known_victim().flags], "the victim flag")
        assert process.problems == []
        assert [loop.name for loop in process.supervised] == ["policy-refresh", "status-refresh"]


async def test_an_unreadable_records_file_is_a_problem_on_healthz_until_fixed(
    world: tuple[ConnectorConfig, FakeHub],
) -> None:
    settings, hub = world
    assert settings.records_path is not None
    async with hub.client() as client, running_connector(settings, bootstrap="fake:9092", client=client) as process:
        await _until(lambda: FakeConnector.runs >= 2, "the inbox reader's retry")
        status, body = await _healthz(process)
        assert (status, body["status"]) == (200, "ok")
        settings.records_path.write_text('[{"record_reference": "fake-rec-bad"}]')
        await _until(lambda: "status.refresh_failed" in process.problems, "the failed refresh")
        status, body = await _healthz(process)
        assert (status, body["problems"]) == (503, ["status.refresh_failed"])
        assert _victim_flags(process) == [frozenset()], "the old index still answers"

        write_records(settings.records_path, [*synthetic_records(20, seed=1), known_victim()])
        await _until(lambda: process.problems == [], "the next refresh to succeed")
        assert _victim_flags(process) == [known_victim().flags]
        assert (await _healthz(process))[0] == 200


async def test_a_crashing_policy_refresh_restarts_and_the_connector_runs_on(
    world: tuple[ConnectorConfig, FakeHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, hub = world
    calls: list[int] = []

    async def crashing_refresh(*_args: Any, **_kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the refresh loop")
        await asyncio.Event().wait()

    monkeypatch.setattr(runtime, "_refresh_policy", crashing_refresh)
    async with hub.client() as client, running_connector(settings, bootstrap="fake:9092", client=client) as process:
        await _until(lambda: len(calls) == 1, "the first run")
        await asyncio.sleep(0)
        assert "connector.task_failed.policy-refresh" in process.problems
        assert not process.healthy
        status, body = await _healthz(process)
        assert (status, body["problems"]) == (503, ["connector.task_failed.policy-refresh"])
        await _until(lambda: len(calls) == 2, "the restart after 0.5 s")
        await _until(lambda: process.problems == [], "the restarted loop to count as stable")
        assert not process.pump.done()


async def test_post_status_refresh_reads_the_records_now(world: tuple[ConnectorConfig, FakeHub]) -> None:
    settings, hub = world
    assert settings.records_path is not None
    hourly = settings.model_copy(update={"status_refresh_seconds": 3600.0})
    async with hub.client() as client, running_connector(hourly, bootstrap="fake:9092", client=client) as process:
        app = create_app(process.config, process)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://connector") as api:
            assert (await api.post("/status/refresh")).status_code == 401, "behind the bearer token"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            unchanged = await api.post("/status/refresh", headers=auth)
            assert (unchanged.status_code, unchanged.json()) == (200, {"changed": False, "records": 21})

            write_records(settings.records_path, [*synthetic_records(20, seed=1), known_victim()])
            changed = await api.post("/status/refresh", headers=auth)
            assert (changed.status_code, changed.json()) == (200, {"changed": True, "records": 21})
            assert _victim_flags(process) == [known_victim().flags], "at once, not in an hour"

            settings.records_path.write_text("not json")
            failed = await api.post("/status/refresh", headers=auth)
            assert (failed.status_code, failed.json()["code"]) == (503, "status.refresh_failed")
            assert "not json" not in failed.text
            assert _victim_flags(process) == [known_victim().flags], "the previous index still answers"
            assert process.problems == ["status.refresh_failed"]
    write_records(settings.records_path, [*synthetic_records(20, seed=1), known_victim()])

    off = settings.model_copy(update={"status_refresh_seconds": 0.0})
    async with hub.client() as client, running_connector(off, bootstrap="fake:9092", client=client) as process:
        assert process.status_refresh is None
        assert [loop.name for loop in process.supervised] == ["policy-refresh"]
        app = create_app(process.config, process)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://connector") as api:
            answer = await api.post("/status/refresh", headers={"Authorization": f"Bearer {TOKEN}"})
        assert (answer.status_code, answer.json()["code"]) == (404, "status.refresh_off")
