"""Consumer lag per agency inbox: how far each connector is behind what the hub delivered to it.

For every topic ``<prefix>.in.<agency>`` the lag is the sum over its partitions of the end
offset minus the offset committed by the connector's consumer group,
``<prefix>.connector.<agency>`` (``connectors.sdk.connector``); a partition the group never
committed counts from its first offset (connectors start at the earliest record). The one module
that talks to the broker for this: every failure becomes an ``unknown`` entry with a stable
reason code (``lag.broker_unavailable``, ``lag.forbidden``, ``lag.failed``), never an exception.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    TopicAuthorizationFailedError,
)

from hub.ops.schemas import InboxLag
from onedoor.ids import AgencyId
from onedoor.kafka.plan import connector_group
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)


def group_of(prefix: str, agency: str) -> str:
    """The consumer group a connector reads its inbox with."""
    return connector_group(TopicNames(prefix), AgencyId(agency))


def inbox_lag(
    agency: str, ends: Mapping[int, int], beginnings: Mapping[int, int], committed: Mapping[int, int]
) -> InboxLag:
    """The lag of one inbox from per-partition end, first and committed offsets (pure)."""
    total = 0
    for partition, end in ends.items():
        start = committed.get(partition)
        if start is None or start < 0:
            start = beginnings.get(partition, 0)
        total += max(0, end - start)
    return InboxLag(agency=agency, lag=total, status="ok")


def unknown(agency: str, reason: str) -> InboxLag:
    """An inbox whose lag could not be read, and why."""
    return InboxLag(agency=agency, lag=None, status="unknown", reason=reason)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GroupAuthorizationFailedError | TopicAuthorizationFailedError):
        return "lag.forbidden"
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | NoBrokersAvailable | TimeoutError | OSError):
        return "lag.broker_unavailable"
    if getattr(exc, "retriable", False):  # e.g. no group coordinator yet on a broker just started
        return "lag.broker_unavailable"
    return "lag.failed"


class LagReader:
    """Reads every inbox's lag with one admin client and one group-less consumer, kept open.

    ``read()`` never raises: a broken connection is closed and reopened at the next call.
    """

    def __init__(
        self, bootstrap: str, prefix: str, credentials: ClientCredentials | None, *, timeout_s: float = 5.0
    ) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.credentials = credentials
        self.timeout_s = timeout_s
        self._admin: Any = None
        self._consumer: Any = None
        self.last: list[InboxLag] = []
        self.read_at = 0.0

    async def _open(self) -> None:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="onedoor-hub-ops",
                request_timeout_ms=int(self.timeout_s * 1000),
                **aiokafka_options(self.credentials),
            )
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,
                client_id="onedoor-hub-ops",
                request_timeout_ms=int(self.timeout_s * 1000),
                **aiokafka_options(self.credentials),
            )
            await consumer.start()
            self._consumer = consumer

    async def close(self) -> None:
        """Close the clients (reopened by the next ``read``)."""
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for client, stop in ((admin, "close"), (consumer, "stop")):
            if client is not None:
                try:
                    await getattr(client, stop)()
                except (KafkaError, OSError) as exc:
                    log.debug("ops.lag_close_failed", error=type(exc).__name__)

    async def read(self) -> list[InboxLag]:
        """Every inbox's lag now, or its last known agencies marked unknown with a reason."""
        try:
            found = await asyncio.wait_for(self._read(), timeout=self.timeout_s * 2)
        except (KafkaError, OSError, TimeoutError) as exc:
            reason = _reason(exc)
            log.warning("ops.lag_unavailable", reason=reason, error=type(exc).__name__)
            await self.close()
            found = [unknown(entry.agency, reason) for entry in self.last] or [unknown("*", reason)]
        self.last = found
        self.read_at = time.monotonic()
        return found

    async def _read(self) -> list[InboxLag]:
        await self._open()
        head = f"{self.prefix}.in."
        topics = sorted(t for t in await self._admin.list_topics() if t.startswith(head))
        if not topics:
            return []
        partitions: dict[str, list[TopicPartition]] = {}
        for topic in topics:
            numbers = self._consumer.partitions_for_topic(topic)
            if numbers is None:
                await self._consumer._client.force_metadata_update()  # aiokafka has no public call for it
                numbers = self._consumer.partitions_for_topic(topic) or set()
            partitions[topic] = [TopicPartition(topic, p) for p in sorted(numbers)]
        every = [tp for tps in partitions.values() for tp in tps]
        ends = await self._consumer.end_offsets(every)
        beginnings = await self._consumer.beginning_offsets(every)
        result = []
        for topic in topics:
            agency = topic[len(head) :]
            try:
                offsets = await self._admin.list_consumer_group_offsets(group_of(self.prefix, agency))
            except KafkaError as exc:  # one group's failure leaves the other inboxes known
                result.append(unknown(agency, _reason(exc)))
                continue
            committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
            result.append(
                inbox_lag(
                    agency,
                    {tp.partition: ends[tp] for tp in partitions[topic]},
                    {tp.partition: beginnings[tp] for tp in partitions[topic]},
                    committed,
                )
            )
        return result
