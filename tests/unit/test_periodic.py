"""The housekeeping loop: it ticks, survives a failed tick, logs only codes, and stops with its block."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from onedoor.errors import Unavailable
from onedoor.periodic import every


async def test_ticks_go_on_after_failures_and_stop_with_the_block() -> None:
    calls = 0

    async def tick() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Unavailable("broker.unavailable", "no answer about child Testy McFakeface")
        if calls == 2:
            raise RuntimeError("Testy McFakeface, born 2011-02-03")

    with structlog.testing.capture_logs() as logs:
        async with every("test-job", 0.01, tick, failed="test.tick_failed"):
            for _ in range(200):
                if calls >= 4:
                    break
                await asyncio.sleep(0.01)
        stopped_at = calls
        await asyncio.sleep(0.05)

    assert stopped_at >= 4, "the loop went on after two failed ticks"
    assert calls == stopped_at, "the loop stopped with its block"
    failures = [entry for entry in logs if entry["event"] == "test.tick_failed"]
    assert [f.get("code") for f in failures] == ["broker.unavailable", None]
    assert failures[1]["error"] == "RuntimeError"
    assert "Fakeface" not in repr(logs), "a failed tick's message is never logged"


@pytest.mark.parametrize("seconds", [0.0, -1.0])
async def test_a_zero_or_negative_interval_still_pauses_between_ticks(seconds: float) -> None:
    calls = 0

    async def tick() -> None:
        nonlocal calls
        calls += 1

    async with every("test-job", seconds, tick, failed="test.tick_failed"):
        await asyncio.sleep(0.2)
    assert 1 <= calls <= 6, f"{calls} ticks in 0.2 s: the loop must pause at least 0.05 s between ticks"
