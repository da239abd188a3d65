"""One inbox, several readers: route each received message to whoever waits for it.

A ``Connector`` hands every message of its inbox to one handler (``run``/``poll``). A
``Dispatcher`` is that handler when an application, a ``StatusResponder`` and a
``StatusChecker`` share the connector: a message whose correlation id a waiter ``expect``-ed
goes to that waiter's queue; otherwise it goes to the handler ``route``-d for its contract,
else to the ``fallback`` (the application's own handler), else it is dropped with a log line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from connectors.sdk.connector import ReceivedMessage
from onedoor.ids import ContractName, CorrelationId
from onedoor.logging import get_logger

log = get_logger(__name__)

Handler = Callable[[ReceivedMessage], Awaitable[None]]


@dataclass(eq=False, slots=True)
class Waiter:
    """Replies to some correlation ids, in arrival order. ``Dispatcher.forget`` it when done."""

    correlation_ids: frozenset[str]
    contract: ContractName | None
    """Only messages of this contract are the waiter's; others take the usual route."""
    queue: asyncio.Queue[ReceivedMessage] = field(default_factory=asyncio.Queue)


class Dispatcher:
    """A ``Connector`` handler that routes by correlation id, then by contract, then to a fallback."""

    def __init__(self, fallback: Handler | None = None) -> None:
        self._fallback = fallback
        self._routes: dict[str, Handler] = {}
        self._waiting: dict[str, Waiter] = {}

    def route(self, contract: ContractName, handler: Handler) -> None:
        """Hand messages of ``contract`` that nobody waits for to ``handler`` (replacing any before)."""
        self._routes[str(contract)] = handler

    def expect(self, correlation_ids: Iterable[CorrelationId | str], *, contract: ContractName | None = None) -> Waiter:
        """Start collecting messages with these correlation ids (of ``contract``, if given)."""
        waiter = Waiter(frozenset(str(c) for c in correlation_ids), contract)
        for correlation in waiter.correlation_ids:
            self._waiting[correlation] = waiter
        return waiter

    def forget(self, waiter: Waiter) -> None:
        """Stop collecting for ``waiter``: later messages take the usual route."""
        for correlation in waiter.correlation_ids:
            if self._waiting.get(correlation) is waiter:
                del self._waiting[correlation]

    @property
    def waiting(self) -> int:
        """How many correlation ids are awaited."""
        return len(self._waiting)

    async def __call__(self, message: ReceivedMessage) -> None:
        header = message.header
        waiter = self._waiting.get(header.correlation_id)
        if waiter is not None and (waiter.contract is None or header.contract == waiter.contract):
            waiter.queue.put_nowait(message)
            return
        handler = self._routes.get(header.contract) or self._fallback
        if handler is None:
            log.info("dispatch.unrouted", message_id=header.message_id, contract=header.contract)
            return
        await handler(message)
