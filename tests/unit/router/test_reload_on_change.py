"""The router reloads for an announced change unless a reload that began after it already finished."""

from __future__ import annotations

import asyncio
import threading
import time

from hub.policy.bus import PolicyEvent
from hub.policy.changes import ChangeKind
from hub.router.decide import Limits
from hub.router.service import Router, RouterConfig
from hub.router.tables import RoutingTables
from onedoor.topics import TopicNames
from tests.factories import World

CONFIG = RouterConfig(
    bootstrap_servers="127.0.0.1:9",  # never contacted: start() is not called
    topics=TopicNames("t"),
    limits=Limits(max_envelope_bytes=1 << 20, max_ttl_ms=3_600_000, clock_skew_ms=60_000),
    refresh_interval_s=60.0,
)
EVENT = PolicyEvent(ChangeKind.AGREEMENT, "isa-fake-one", 0)


class SlowLoads:
    """Counts loads; the first one waits until released, like a reload stuck on a busy database."""

    def __init__(self) -> None:
        self.count = 0
        self.release = threading.Event()
        self.made: list[RoutingTables] = []

    def __call__(self) -> RoutingTables:
        self.count += 1
        tables = World.make().tables()  # a fresh snapshot per load, told apart by identity
        self.made.append(tables)
        if self.count == 1:
            self.release.wait(5)
        return tables


async def test_a_change_announced_during_a_reload_gets_a_reload_of_its_own() -> None:
    loads = SlowLoads()
    router = Router(CONFIG, load_tables=loads, audit=lambda _rows: None)
    started_before_the_change = asyncio.create_task(router._refresh(force=True))
    await asyncio.sleep(0.05)  # that reload is reading the database: it may miss the change
    announced = asyncio.create_task(router._on_policy_change(EVENT))
    await asyncio.sleep(0.05)
    loads.release.set()
    await started_before_the_change
    await announced
    assert loads.count == 2, "the announcement got a reload that began after it"
    assert router.stats.policy_reloads == 1
    assert router._tables is loads.made[1], "the stale reload never replaces the one that saw the change"


async def test_an_announcement_already_covered_by_a_later_reload_is_skipped() -> None:
    loads = SlowLoads()
    loads.release.set()
    router = Router(CONFIG, load_tables=loads, audit=lambda _rows: None)
    changed_at = time.monotonic()
    await asyncio.sleep(0.01)
    assert await router._refresh(force=True)  # began after the change: it saw it
    assert not await router._refresh(force=True, changed_at=changed_at)
    assert loads.count == 1
