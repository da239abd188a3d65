"""``RegistryWatch`` over the real broker: registry announcements trigger a refresh at once.

Other kinds of policy events and garbage are ignored; without the topic the watch still starts
and falls back to its periodic refresh.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from connectors.agent.registry_watch import RegistryWatch
from hub.policy.bus import PolicyEvent
from hub.policy.changes import ChangeKind
from onedoor.kafka.admin import ensure_topics

pytestmark = pytest.mark.integration


async def _until(condition: object, timeout_s: float = 10.0) -> None:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < timeout_s
        await asyncio.sleep(0.01)


async def test_registry_events_refresh_at_once_and_others_are_ignored(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.rw.registry"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    calls: list[float] = []

    async def refresh() -> bool:
        calls.append(time.monotonic())
        return True

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        old = PolicyEvent(ChangeKind.REGISTRY, "fake-before-start", 0).encode()
        await producer.send_and_wait(topic, old)  # before the watch: never seen
        async with RegistryWatch(bootstrap=kafka_bootstrap, topic=topic, refresh=refresh, every_s=60) as watch:
            assert watch.listening
            await producer.send_and_wait(topic, PolicyEvent(ChangeKind.CONSENT, "st1_FAKEtoken0000000001", 1).encode())
            await producer.send_and_wait(topic, b"not an event")
            sent = time.monotonic()
            await producer.send_and_wait(topic, PolicyEvent(ChangeKind.REGISTRY, "fake-agency", 2).encode())
            await _until(lambda: watch.stats.refreshes == 1)
            assert calls[0] - sent < 1.0
            await asyncio.sleep(0.3)
            assert watch.stats.events == 1, "consent events, garbage and earlier events do not count"
            assert len(calls) == 1
    finally:
        await producer.stop()


async def test_without_the_topic_the_watch_starts_and_refreshes_periodically(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    calls = 0

    async def refresh() -> bool:
        nonlocal calls
        calls += 1
        return True

    topic = f"{topic_prefix}.rw.none-such"
    async with RegistryWatch(bootstrap=kafka_bootstrap, topic=topic, refresh=refresh, every_s=0.05) as watch:
        assert not watch.listening
        await _until(lambda: calls >= 2)
    assert watch.stats.refreshes >= 2
