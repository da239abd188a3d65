"""Batched publishing: one aiokafka batch per (topic, partition) instead of one future per record.

``AIOKafkaProducer.send`` costs a coroutine, a future, a key hash (pure-Python murmur2) and
two metadata look-ups per record. The router publishes a whole consumed batch at once, so it
fills ``BatchBuilder``s directly and submits each with ``send_batch``: the same idempotent,
acks=all producer, a fraction of the per-record work. Partitions are chosen by CRC-32 of the
key (C code), so one young person's messages share a partition of each inbox, in the order of
``add`` calls. Partition counts are cached for the process's lifetime.
"""

from __future__ import annotations

import zlib
from typing import Any

from aiokafka import AIOKafkaProducer


class BatchPublisher:
    """Collects records for many topics, then submits them as few batches as possible."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._partitions: dict[str, int] = {}
        self._open: dict[tuple[str, int], Any] = {}
        self._futures: list[Any] = []

    async def partition_count(self, topic: str) -> int:
        """Partitions of ``topic`` (looked up once, then cached)."""
        count = self._partitions.get(topic)
        if count is None:
            count = len(await self._producer.partitions_for(topic))
            self._partitions[topic] = count
        return count

    async def add(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Queue one record; a full batch is submitted at once (a first record always fits one)."""
        count = self._partitions.get(topic) or await self.partition_count(topic)
        partition = zlib.crc32(key) % count if key else 0
        slot = (topic, partition)
        builder = self._open.get(slot)
        if builder is not None and builder.append(timestamp=None, key=key, value=value, headers=headers) is not None:
            return
        if builder is not None:
            self._futures.append(await self._producer.send_batch(builder, topic, partition=partition))
        builder = self._open[slot] = self._producer.create_batch()
        builder.append(timestamp=None, key=key, value=value, headers=headers)

    async def flush(self) -> list[Any]:
        """Submit everything queued; returns futures that resolve when the broker acknowledges."""
        for (topic, partition), builder in self._open.items():
            self._futures.append(await self._producer.send_batch(builder, topic, partition=partition))
        futures, self._futures, self._open = self._futures, [], {}
        return futures
