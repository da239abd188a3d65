"""The durable inbox: each message id reaches the application once, even across restarts; poison is parked.

``DurableInbox.deliver`` is called by the connector for every opened, in-memory-deduplicated
message (``Connector(inbox=...)``). It skips an id in ``received_messages``; otherwise it hands
the message to the handler and records the id right after the handler returns, before the
batch's Kafka offset is committed (a handler can record it in its own transaction with
``connectors.outbox.record_received``). When the handler raises:

- ``DeliveryRefused``: parked at once with its code and message;
- ``DeliveryRetry``: the same message again after a backoff, nothing skipped; after
  ``retry_in_place_s`` the error goes up, the batch is not committed and is read again later;
- anything else: tried ``max_attempts`` times, then parked as ``handler.failed`` with the
  exception's type (never the body).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

from connectors.adapters.base import DeliveryRetry
from connectors.outbox.backoff import Action, Backoff, disposition
from connectors.outbox.store import OutboxStore
from connectors.sdk.connector import ReceivedMessage
from onedoor.envelope.reasons import EnvelopeRejected
from onedoor.logging import get_logger

log = get_logger(__name__)

MAX_ATTEMPTS: Final = 3
RETRY_IN_PLACE_S: Final = 30.0

Handler = Callable[[ReceivedMessage], Awaitable[None]]
Opener = Callable[[bytes], ReceivedMessage]


class DurableInbox:
    """Dedupe by message id in the connector's database, bounded retries, parking."""

    def __init__(
        self,
        store: OutboxStore,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        retry_in_place_s: float = RETRY_IN_PLACE_S,
        backoff: Callable[[], Backoff] = lambda: Backoff(first_s=0.2, cap_s=5.0),
    ) -> None:
        self.store = store
        self.max_attempts = max_attempts
        self.retry_in_place_s = retry_in_place_s
        self._backoff = backoff
        self.duplicates = 0
        """Messages skipped because their id was already received (a redelivery after a restart)."""
        self.parked = 0
        """Messages parked since start."""

    async def deliver(self, message: ReceivedMessage, value: bytes, handler: Handler) -> bool:
        """Hand ``message`` to ``handler`` once; ``True`` if the handler took it now.

        Raises:
            DeliveryRetry: the application stayed unavailable for ``retry_in_place_s``.
        """
        if await asyncio.to_thread(self.store.was_received, str(message.header.message_id)):
            self.duplicates += 1
            log.info("inbox.duplicate", message_id=message.header.message_id)
            return False
        return await self._attempt(message, value, handler, parked_id=None)

    async def retry_parked(self, opener: Opener, handler: Handler) -> int:
        """Deliver the parked messages an operator put back; returns how many the handler took."""
        taken = 0
        for row in await asyncio.to_thread(self.store.to_retry):
            try:
                message = opener(row.value)
            except EnvelopeRejected as exc:
                await asyncio.to_thread(self.store.repark, row.id, reason=exc.code, detail=exc.code, attempts=0)
                log.warning("inbox.parked", message_id=row.message_id, reason=exc.code, attempts=row.attempts)
                continue
            try:
                if await self._attempt(message, row.value, handler, parked_id=row.id):
                    taken += 1
            except DeliveryRetry:
                break  # the application is down: try the rest on the next round
        return taken

    async def _attempt(
        self, message: ReceivedMessage, value: bytes, handler: Handler, *, parked_id: int | None
    ) -> bool:
        header = message.header
        backoff = self._backoff()
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                await handler(message)
            except Exception as exc:  # every failure is decided: retried, or parked with its type
                decided = disposition(exc, attempt=attempt, max_attempts=self.max_attempts)
                if decided.action is Action.PARK:
                    await self._park(
                        message,
                        value,
                        decided.reason or "handler.failed",
                        decided.detail,
                        attempts=attempt,
                        parked_id=parked_id,
                    )
                    return False
                if isinstance(exc, DeliveryRetry) and time.monotonic() - started >= self.retry_in_place_s:
                    log.warning("inbox.retry_later", message_id=header.message_id, code=exc.code, attempts=attempt)
                    raise
                delay = backoff.next()
                log.warning(
                    "inbox.retrying",
                    message_id=header.message_id,
                    error=getattr(exc, "code", type(exc).__name__),
                    attempt=attempt,
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay)
                continue
            await asyncio.to_thread(self.store.record_received, header)
            if parked_id is not None:
                await asyncio.to_thread(self.store.unpark, parked_id)
                log.info("inbox.unparked", message_id=header.message_id, attempts=attempt)
            return True

    async def _park(
        self, message: ReceivedMessage, value: bytes, reason: str, detail: str, *, attempts: int, parked_id: int | None
    ) -> None:
        header = message.header
        if parked_id is None:
            await asyncio.to_thread(self.store.park, header, value, reason=reason, detail=detail, attempts=attempts)
        else:
            await asyncio.to_thread(self.store.repark, parked_id, reason=reason, detail=detail, attempts=attempts)
        self.parked += 1
        log.warning(
            "inbox.parked", message_id=header.message_id, contract=header.contract, reason=reason, attempts=attempts
        )
