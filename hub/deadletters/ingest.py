"""Fill the dead-letter index from the dead-letter topic: a small consumer in the hub API process.

Why a consumer and not the router's audit transaction: the row's key is the record's place on
the dead-letter topic (replay re-reads the original bytes from there), and the router learns
that offset only from the broker's acknowledgement of a whole batch. Reading the topic gives
the partition and offset for free, needs no change to the router's hot path, and is idempotent:
a row is keyed by its partition and offset, so a record read twice (a restart before the
offset commit) is stored once. The router's ``route.rejected`` audit row stays the record of
the decision; this table is an index for operators, a second or so behind it.

Metadata only: the router's headers (reason, detail, source, time, sender) and the envelope's
clear header (message id, contract, recipients). Never the body, never the subject token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.deadletters.models import DeadLetter, ReplayState
from hub.deadletters.replay import never_replayable
from hub.deadletters.service import mark_later_letters, settle_outcomes
from hub.router.runtime import ensure_hub_topics
from onedoor.db import transaction
from onedoor.envelope.wire import read_header
from onedoor.errors import ValidationFailed
from onedoor.ids import MessageId
from onedoor.kafka.plan import deadletter_group
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.logging import get_logger
from onedoor.settings import Settings
from onedoor.topics import TopicNames

log = get_logger(__name__)

_INT32 = 2**31 - 1


def _clip(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value if len(value) <= limit else value[: limit - 1] + "~"


def metadata_row(partition: int, offset: int, value: bytes, headers: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The index row for one dead-letter record (pure). Sender-chosen header fields are bounded."""
    named = {k: v.decode("utf-8", errors="replace") for k, v in headers}
    message_id = named.get("ce_id")
    contract = recipients = None
    version: int | None = None
    with contextlib.suppress(ValidationFailed, ValueError, TypeError, KeyError):
        h = read_header(value)
        contract = _clip(h.get("contract"), 128)
        raw_version = h.get("contract_version")
        version = raw_version if isinstance(raw_version, int) and 0 <= raw_version <= _INT32 else None
        listed = h.get("recipients")
        if isinstance(listed, list):
            recipients = _clip(",".join(str(r) for r in listed), 4000)
        if message_id is None and isinstance(h.get("message_id"), str):
            message_id = h["message_id"]
    if message_id is not None and not MessageId.pattern.fullmatch(message_id):
        message_id = None
    reason = _clip(named.get("od_reason"), 64) or "unknown"
    try:
        rejected_at = datetime.fromisoformat(named["od_rejected_at"]).astimezone(UTC)
    except (KeyError, ValueError):
        rejected_at = datetime.now(UTC)
    reported_by = _clip(named.get("od_reported_by"), 64)
    why = never_replayable(
        reason, reported=reported_by is not None, contract=contract, has_message_id=message_id is not None
    )
    return {
        "dl_partition": partition,
        "dl_offset": offset,
        "message_id": message_id,
        "sender": _clip(named.get("od_sender"), 64),
        "contract": contract,
        "contract_version": version,
        "recipients": recipients,
        "reason_code": reason,
        "detail": _clip(named.get("od_detail"), 2000),
        "source": _clip(named.get("od_source"), 255),
        "reported_by": reported_by,
        "rejected_at": rejected_at,
        "replay_state": ReplayState.NONE if why is None else ReplayState.REFUSED,
        "refused_reason": None if why is None else _clip(why, 255),
    }


def store(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows not stored yet (by partition and offset); returns how many were new."""
    if not rows:
        return 0
    partitions = {r["dl_partition"] for r in rows}
    offsets = [r["dl_offset"] for r in rows]
    known = set(
        session.execute(
            select(DeadLetter.dl_partition, DeadLetter.dl_offset).where(
                DeadLetter.dl_partition.in_(partitions),
                DeadLetter.dl_offset.between(min(offsets), max(offsets)),
            )
        ).tuples()
    )
    new = [DeadLetter(**r) for r in rows if (r["dl_partition"], r["dl_offset"]) not in known]
    session.add_all(new)
    session.flush()
    mark_later_letters(session, new)
    return len(new)


def _store_now(factory: sessionmaker[Session], rows: Sequence[dict[str, Any]]) -> int:
    with transaction(factory) as session:
        return store(session, rows)


def _settle_now(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return settle_outcomes(session)


async def consume(
    factory: sessionmaker[Session],
    bootstrap: str,
    topics: TopicNames,
    *,
    credentials: ClientCredentials | None = None,
    stop: asyncio.Event,
) -> None:
    """Index the dead-letter topic until ``stop`` is set; a failure is retried with a back-off."""
    backoff = 0.5
    loop = asyncio.get_running_loop()
    settle_at = 0.0
    while not stop.is_set():
        consumer = AIOKafkaConsumer(
            topics.dead_letter,
            bootstrap_servers=bootstrap,
            group_id=deadletter_group(topics),
            client_id="onedoor-hub-deadletters",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=1000,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            **aiokafka_options(credentials),
        )
        try:
            await consumer.start()
            backoff = 0.5
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=250, max_records=500)
                rows = [
                    metadata_row(tp.partition, r.offset, r.value or b"", r.headers or ())
                    for tp, records in batches.items()
                    for r in records
                ]
                if rows:
                    added = await asyncio.to_thread(_store_now, factory, rows)
                    await consumer.commit()
                    log.info("deadletter.indexed", new=added, read=len(rows))
                if rows or loop.time() >= settle_at:  # replays' outcomes: after new rows, else every second
                    settle_at = loop.time() + 1.0
                    await asyncio.to_thread(_settle_now, factory)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep indexing: nothing uncommitted is lost
            log.warning("deadletter.index_failed", error=type(exc).__name__, retry_in_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()


@asynccontextmanager
async def ingesting(app: FastAPI, settings: Settings, bootstrap: str | None) -> AsyncIterator[None]:
    """Run the dead-letter index for the API's lifespan (when there is a broker); replays need it too."""
    app.state.deadletters_bootstrap = bootstrap
    if bootstrap is None:
        log.info("deadletter.index_off", why="no broker configured")
        yield
        return
    stop = asyncio.Event()
    factory: sessionmaker[Session] = app.state.session_factory

    async def run() -> None:
        with contextlib.suppress(Exception):
            # The dead-letter and replay topics, in case the API starts before any router.
            await ensure_hub_topics(bootstrap, settings)
        await consume(
            factory,
            bootstrap,
            TopicNames(settings.kafka.topic_prefix),
            credentials=settings.kafka.credentials(),
            stop=stop,
        )

    task = asyncio.create_task(run(), name="deadletter-index")
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
