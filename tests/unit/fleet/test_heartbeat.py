"""The connector side of the heartbeat, against a fake hub caller: what it sends, how often, and after failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from connectors.agent.heartbeat import STOPPED, Heartbeat, Vitals
from hub.fleet.schemas import HeartbeatIn
from onedoor.errors import Unavailable

VITALS = Vitals("k1_" + "a" * 32, "k1_" + "b" * 32, 3, 1, ["connector.inbox_stopped", "connector.inbox_stopped"])


class FakeHub:
    """Records calls; fails the first ``fail`` of them with ``hub.unreachable``."""

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.fail = fail

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        self.calls.append((method, path, json))
        if len(self.calls) <= self.fail:
            raise Unavailable("hub.unreachable", "cannot reach the hub")
        return {"clock_skew_ms": 0}


async def _vitals() -> Vitals:
    return VITALS


async def test_a_heartbeat_is_what_the_hub_schema_takes_and_nothing_more() -> None:
    hub = FakeHub()
    beat = Heartbeat(hub, _vitals, every_s=30.0, version_text="1.2.3", clock=lambda: 1_790_000_000.0)
    await beat.beat()
    await beat.beat()
    (method, path, first), (_, _, second) = hub.calls
    assert (method, path) == ("POST", "/agencies/me/heartbeat")
    parsed = HeartbeatIn.model_validate(first)  # the hub's own schema (extra fields forbidden)
    assert parsed.version == "1.2.3"
    assert parsed.sent_at == datetime.fromtimestamp(1_790_000_000, tz=UTC), "the connector's own clock"
    assert (parsed.outbox_pending, parsed.parked, parsed.interval_s) == (3, 1, 30.0)
    assert parsed.problems == ["connector.inbox_stopped"], "each problem once"
    assert first["rtt_ms"] is None, "no round trip is known before the first answer"
    assert isinstance(second["rtt_ms"], int), "later heartbeats carry the previous round trip"


async def test_failures_are_counted_and_the_loop_keeps_beating() -> None:
    hub = FakeHub(fail=2)
    beat = Heartbeat(hub, _vitals, every_s=0.01)
    task = beat.start("test-heartbeat")
    for _ in range(200):
        if beat.sent >= 1:
            break
        await asyncio.sleep(0.01)
    assert (beat.failed, beat.sent, beat.last_error) == (2, 1, None)
    assert beat.problems == [], "a hub that does not answer is not the process's own problem"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert beat.problems == [], "cancelled at shutdown is not a problem"


async def test_a_heartbeat_task_that_ended_is_a_problem() -> None:
    beat = Heartbeat(FakeHub(), _vitals, every_s=0.01)
    beat.task = asyncio.create_task(asyncio.sleep(0))  # stands for a loop that returned: it runs until cancelled
    await beat.task
    assert beat.problems == [STOPPED]
