"""``RegistryWatch`` keeps listening when reading the policy topic fails, and ``stop`` always stops the consumer.

The consumer is a fake of aiokafka's (the real broker is in tests/integration/test_registry_watch.py):
its first read fails; the watch logs it, refreshes once, and reads the next announcement.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.agent import registry_watch
from connectors.agent.registry_watch import RegistryWatch
from hub.policy.bus import PolicyEvent
from hub.policy.changes import ChangeKind


@dataclass
class Record:
    value: bytes


class FakeConsumer:
    """Reads fail ``failures`` times (or always, with ``None``), then one registry event, then nothing."""

    made: list[FakeConsumer] = []  # noqa: RUF012 - the instances the watch made, for the test

    def __init__(self, **_options: Any) -> None:
        self.failures: int | None = FakeConsumer.next_failures
        self.stopped = False
        self.delivered = False
        FakeConsumer.made.append(self)

    next_failures: int | None = 1

    async def start(self) -> None:
        return None

    async def topics(self) -> set[str]:
        return {"tfake.registry"}

    def assign(self, _partitions: Any) -> None:
        return None

    async def seek_to_end(self, *_partitions: Any) -> None:
        return None

    async def position(self, _partition: Any) -> int:
        return 0

    async def stop(self) -> None:
        self.stopped = True

    def __aiter__(self) -> FakeConsumer:
        return self

    async def __anext__(self) -> Record:
        if self.failures is None or self.failures > 0:
            if self.failures is not None:
                self.failures -= 1
            raise ConnectionResetError("synthetic read failure")
        if not self.delivered:
            self.delivered = True
            return Record(PolicyEvent(ChangeKind.REGISTRY, "lb-fake-csc", 1).encode())
        await asyncio.Event().wait()
        raise StopAsyncIteration


async def _until(condition: Any, timeout_s: float = 5.0) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s
        await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeConsumer.made.clear()
    monkeypatch.setattr(registry_watch, "AIOKafkaConsumer", FakeConsumer)
    monkeypatch.setattr(registry_watch, "RESTART_MIN_S", 0.01)


async def test_a_failed_read_is_logged_refreshed_and_the_listener_restarted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    FakeConsumer.next_failures = 1
    warnings: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(registry_watch.log, "warning", lambda event, **kw: warnings.append((event, kw)))
    refreshed: list[int] = []

    async def refresh() -> bool:
        refreshed.append(1)
        return True

    watch = RegistryWatch(bootstrap="fake:9092", topic="tfake.registry", refresh=refresh, every_s=3600)
    async with watch:
        assert watch.listening
        await _until(lambda: watch.stats.events == 1)
        assert watch.stats.listener_restarts == 1
        assert len(refreshed) == 2, "one refresh for the restart, one for the announcement"
    assert FakeConsumer.made[0].stopped
    [(event, said)] = warnings
    assert event == "connector.registry_watch_failed"
    assert said["error"] == "ConnectionResetError"
    assert "synthetic read failure" not in str(said), "the exception's text is not logged"


async def test_stop_stops_the_consumer_even_while_the_listener_keeps_failing() -> None:
    FakeConsumer.next_failures = None

    async def refresh() -> bool:
        return True

    watch = RegistryWatch(bootstrap="fake:9092", topic="tfake.registry", refresh=refresh, every_s=3600)
    await watch.start()
    await _until(lambda: watch.stats.listener_restarts >= 2)
    await watch.stop()
    assert FakeConsumer.made[0].stopped
    assert not watch.listening
