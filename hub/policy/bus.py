"""The change topics: the hub API announces, every router replica listens.

Two topics of one partition each. The API appends a small JSON event per committed change
(``{"kind": "agreement", "key": "isa-met-lambeth", "at_ms": ...}``: ids and opaque subject tokens
only, never a name) to the topic of its kind (:func:`topic_for`): agreement and consent changes
to ``<prefix>.policy``, registry changes (agencies, keys, contracts; the key is an agency id) to
``<prefix>.registry``. Connectors read only the registry topic (``connectors.agent.registry_watch``)
and their broker ACLs grant only that one, so no agency sees another child's subject token
(threat model S7, ADR 0008's amendment). Each router reads both from the end with no consumer
group (every replica sees every event) and reloads at once, so a revocation or a withdrawal of
consent stops new messages within a second on every replica. The periodic reload stays as a
backstop for a lost announcement (the API cannot reach the broker): then the change takes
effect at the next refresh instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.policy.changes import Change, ChangeKind
from onedoor.kafka.admin import ensure_topics
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

POLICY_TOPIC_CONFIG: Final = {"retention.ms": str(3_600_000), "cleanup.policy": "delete"}
"""Events are only wake-up calls: an hour of them is plenty (both change topics)."""


def topic_for(kind: ChangeKind, topics: TopicNames) -> str:
    """Where a change of ``kind`` is announced: registry changes apart, so connectors read no consent event."""
    return topics.registry if kind is ChangeKind.REGISTRY else topics.policy


def change_topics(topics: TopicNames) -> list[str]:
    """Both change topics (policy first), as routers read them."""
    return [topics.policy, topics.registry]


async def _ensure_topic(
    bootstrap: str, topics: TopicNames, replication_factor: int, credentials: ClientCredentials | None = None
) -> None:
    """Create the change topics if they do not exist (one partition each: announcements stay in order).

    Both sides call it on start, so neither depends on the other having started first.
    """
    await ensure_topics(
        bootstrap,
        change_topics(topics),
        partitions=1,
        replication_factor=replication_factor,
        configs=POLICY_TOPIC_CONFIG,
        credentials=credentials,
    )


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    """One committed change, as it travels."""

    kind: ChangeKind
    key: str
    at_ms: int

    def encode(self) -> bytes:
        """The event's JSON bytes."""
        return json.dumps({"kind": self.kind.value, "key": self.key, "at_ms": self.at_ms}).encode()

    @classmethod
    def decode(cls, value: bytes) -> PolicyEvent | None:
        """An event, or ``None`` for bytes that are not one (ignored, never fatal)."""
        try:
            data = json.loads(value)
            return cls(ChangeKind(data["kind"]), str(data["key"]), int(data["at_ms"]))
        except (ValueError, KeyError, TypeError):
            return None


class PolicyAnnouncer:
    """The API side: publishes each committed change to its kind's topic (fire and forget, in order)."""

    def __init__(
        self,
        bootstrap: str,
        topics: TopicNames,
        *,
        replication_factor: int = 1,
        credentials: ClientCredentials | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._replication_factor = replication_factor
        self._credentials = credentials
        self._producer: AIOKafkaProducer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[PolicyEvent | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the topics if need be, connect; events published before this are queued."""
        await _ensure_topic(self._bootstrap, self._topics, self._replication_factor, self._credentials)
        self._loop = asyncio.get_running_loop()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, acks="all", linger_ms=0, **aiokafka_options(self._credentials)
        )
        await self._producer.start()
        self._task = asyncio.create_task(self._drain(), name="policy-announcer")

    async def stop(self) -> None:
        """Send what is queued, then disconnect."""
        if self._task is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            await self._producer.stop()

    def publish(self, changes: list[Change]) -> None:
        """Queue changes from any thread (sync routes run in a worker thread)."""
        now = int(time.time() * 1000)
        events = [PolicyEvent(kind, key, now) for kind, key in changes]
        loop = self._loop
        if loop is None or loop.is_closed():
            log.warning("policy.announce_skipped", changes=len(events), why="announcer not started")
            return
        for item in events:
            loop.call_soon_threadsafe(self._queue.put_nowait, item)

    async def _drain(self) -> None:
        assert self._producer is not None  # noqa: S101 - started before the task
        while (item := await self._queue.get()) is not None:
            try:
                topic = topic_for(item.kind, self._topics)
                await self._producer.send_and_wait(topic, item.encode(), key=item.kind.value.encode())
                log.info("policy.announced", kind=item.kind.value)
            except Exception as exc:  # noqa: BLE001 - a lost wake-up call is covered by the periodic refresh
                log.warning("policy.announce_failed", kind=item.kind.value, error=type(exc).__name__)


OnEvent = Callable[[PolicyEvent], Awaitable[None]]


class PolicyListener:
    """The router side: reads both change topics from their ends, with no group, and calls ``on_event``."""

    def __init__(
        self,
        bootstrap: str,
        topics: TopicNames,
        on_event: OnEvent,
        *,
        replication_factor: int = 1,
        credentials: ClientCredentials | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._on_event = on_event
        self._replication_factor = replication_factor
        self._credentials = credentials
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign each topic's partition at its end (creating the topics if need be); only later events are seen."""
        await _ensure_topic(self._bootstrap, self._topics, self._replication_factor, self._credentials)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            **aiokafka_options(self._credentials),
        )
        await consumer.start()
        # Created (above) with exactly one partition each. Order across the two topics is not kept;
        # it need not be: every event makes the router reload everything it routes by.
        partitions = [TopicPartition(topic, 0) for topic in change_topics(self._topics)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end offset now, not lazily at the first fetch
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._listen(), name="policy-listener")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _listen(self) -> None:
        assert self._consumer is not None  # noqa: S101 - started before the task
        async for record in self._consumer:
            item = PolicyEvent.decode(record.value or b"")
            if item is None:
                log.warning("policy.event_ignored", offset=record.offset)
                continue
            try:
                await self._on_event(item)
            except Exception as exc:  # noqa: BLE001 - keep listening; the periodic refresh backs this up
                log.warning("policy.reload_failed", kind=item.kind.value, error=type(exc).__name__)
