"""The two broker operations of a replay: read one dead letter back by offset, put it on the replay topic."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from hub.deadletters.wire import REPLAY_OF, REPLAY_SENDER
from onedoor.errors import Unavailable
from onedoor.kafka.plan import replay_topic
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.topics import TopicNames

_MAX_BYTES = 8 * 1024 * 1024  # the dead-letter topic holds even an oversized envelope whole


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A dead letter as the router wrote it: the original key and bytes, and the router's headers."""

    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


async def read_dead_letter(
    bootstrap: str,
    topics: TopicNames,
    partition: int,
    offset: int,
    *,
    credentials: ClientCredentials | None = None,
    timeout_s: float = 10.0,
) -> StoredRecord | None:
    """The record at ``partition``/``offset`` of the dead-letter topic; ``None`` if retention removed it.

    Raises:
        Unavailable: ``deadletter.broker_unavailable`` when the broker does not answer in time.
    """
    tp = TopicPartition(topics.dead_letter, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="onedoor-hub-deadletters",
        max_partition_fetch_bytes=_MAX_BYTES,
        fetch_max_bytes=_MAX_BYTES * 2,
        **aiokafka_options(credentials),
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not first <= offset < end:
            return None
        consumer.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for record in (await consumer.getmany(tp, timeout_ms=500, max_records=1)).get(tp, []):
                if record.offset == offset:
                    return StoredRecord(record.key, record.value or b"", tuple(record.headers or ()))
                return None  # compacted away or a gap: the record is gone
        raise Unavailable("deadletter.broker_unavailable", "the broker did not return the dead letter in time")
    except (TimeoutError, OSError, KafkaError) as exc:
        raise Unavailable("deadletter.broker_unavailable", "the broker could not be reached") from exc
    finally:
        await consumer.stop()


async def publish_replay(
    bootstrap: str,
    topics: TopicNames,
    record: StoredRecord,
    *,
    sender: str,
    dead_letter_position: str,
    credentials: ClientCredentials | None = None,
    timeout_s: float = 15.0,
) -> str:
    """Put the original bytes, unchanged, on the replay topic; returns ``topic:partition:offset``.

    Raises:
        Unavailable: ``deadletter.broker_unavailable`` when the broker does not acknowledge in time.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=_MAX_BYTES,
        client_id="onedoor-hub-deadletters",
        **aiokafka_options(credentials),
    )
    headers = [(REPLAY_SENDER, sender.encode()), (REPLAY_OF, dead_letter_position.encode())]
    topic = replay_topic(topics)
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
        meta = await asyncio.wait_for(
            producer.send_and_wait(topic, record.value, key=record.key, headers=headers), timeout_s
        )
    except (TimeoutError, OSError, KafkaError) as exc:
        raise Unavailable("deadletter.broker_unavailable", "the broker did not acknowledge the replay") from exc
    finally:
        await producer.stop()
    return f"{topic}:{meta.partition}:{meta.offset}"
