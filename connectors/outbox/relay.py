"""The relay: drains the outbox to the agency's outbound topic, in order, at least once.

One idempotent producer (``acks=all``) sends a batch of pending rows without waiting per
message; when the broker has acknowledged all of them, they are marked delivered in one
UPDATE. If anything fails (the broker is down, a request timed out), the producer is closed,
the relay waits (exponential backoff with full jitter) and sends the same rows again with a
new producer: a row the broker had in fact taken is sent twice, and the router or the
recipient's inbox drops the second copy by message id. Sends keep going into the outbox
meanwhile. Log lines carry counts, never bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connectors.outbox.backoff import Backoff
from connectors.outbox.store import OutboxStore, Pending, now_ms
from onedoor.logging import get_logger

log = get_logger(__name__)

BATCH: Final = 1000
"""Rows read and sent per round."""
IDLE_POLL_S: Final = 0.25
"""How often an idle relay looks at the outbox when nobody wakes it (another process may have written)."""
SEND_TIMEOUT_S: Final = 10.0
"""How long one batch may wait for the broker's acknowledgements before it counts as failed (the producer's
request timeout: its batches expire by then, so closing it does not hang on them)."""
KEEP_DELIVERED_MS: Final = 3_600_000
"""Delivered rows are kept an hour (for inspection), then pruned."""
PRUNE_EVERY_S: Final = 60.0

ProducerFactory = Callable[[], AIOKafkaProducer]


class Relay:
    """Publishes outbox rows to ``topic``. ``run()`` until cancelled; ``wake()`` from any thread after an enqueue."""

    def __init__(
        self,
        store: OutboxStore,
        *,
        bootstrap_servers: str,
        topic: str,
        client_id: str = "onedoor-connector-relay",
        producer_options: Mapping[str, Any] | None = None,
        batch: int = BATCH,
        backoff: Backoff | None = None,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self.store = store
        self.topic = topic
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._options = dict(producer_options or {})
        self._batch = batch
        self._backoff = backoff or Backoff(first_s=0.1, cap_s=2.0)
        self._send_timeout_s = send_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._lock = threading.Lock()
        self.delivered = 0
        """Rows the broker acknowledged since start."""
        self.failures = 0
        """Failed rounds since start."""
        self.last_error: str | None = None
        """The error type of the last failed round, until a round succeeds."""

    def wake(self) -> None:
        """Tell the relay there is something to send (safe from any thread)."""
        with self._lock:
            loop, event = self._loop, self._wakeup
        if loop is None or event is None or loop.is_closed():
            return
        if _running_loop() is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Drain the outbox until cancelled."""
        with self._lock:
            self._loop, self._wakeup = asyncio.get_running_loop(), asyncio.Event()
        pruned_at = time.monotonic()
        try:
            while True:
                try:
                    sent = await self.drain_once()
                except Exception as exc:  # noqa: BLE001 - the database failed: the rows stay pending, try again
                    await self._failed(exc, 0)
                    continue
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    await asyncio.to_thread(self.store.prune_delivered, now_ms() - KEEP_DELIVERED_MS)
                if sent == 0:
                    await self._idle()
        finally:
            with self._lock:
                self._loop = self._wakeup = None
            await self._close_producer()

    async def drain_once(self) -> int:
        """Send one batch and mark it delivered; returns how many (0 if nothing was pending, or it failed)."""
        rows = await asyncio.to_thread(self.store.pending, self._batch)
        if not rows:
            return 0
        try:
            await self._send(rows)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._failed(exc, len(rows))
            return 0
        await asyncio.to_thread(self.store.mark_delivered, [row.id for row in rows])
        if self.failures and self.last_error is not None:
            log.info("outbox.relay_recovered", delivered=len(rows), failed_rounds=self.failures)
        self.last_error = None
        self._backoff.reset()
        self.delivered += len(rows)
        log.debug("outbox.relay_delivered", count=len(rows), total=self.delivered)
        return len(rows)

    async def drain(self) -> int:
        """Send until nothing is pending (for tests and benches); returns how many were sent."""
        total = 0
        while True:
            sent = await self.drain_once()
            total += sent
            if sent == 0 and self.last_error is None:
                return total

    async def _send(self, rows: list[Pending]) -> None:
        producer = await self._ensure_producer()
        futures = [
            await producer.send(self.topic, row.value, key=row.key, headers=row.headers)  # one batch, no per-row wait
            for row in rows
        ]
        async with asyncio.timeout(self._send_timeout_s + 5):
            results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _failed(self, exc: BaseException, count: int) -> None:
        self.failures += 1
        self.last_error = type(exc).__name__
        delay = self._backoff.next()
        log.warning(
            "outbox.relay_failed",
            error=type(exc).__name__,
            pending=count,
            retry_in_s=round(delay, 2),
            round=self.failures,
        )
        # A producer that failed may hold batches of the old attempt: start again with a fresh one.
        await self._close_producer()
        await asyncio.sleep(delay)

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                max_batch_size=256 * 1024,
                max_request_size=8 * 1024 * 1024,
                request_timeout_ms=int(self._send_timeout_s * 1000),
                client_id=self._client_id,
                **self._options,
            )
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await producer.stop()

    async def _idle(self) -> None:
        event = self._wakeup
        if event is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(IDLE_POLL_S):
                await event.wait()
        event.clear()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
