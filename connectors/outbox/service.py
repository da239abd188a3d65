"""Durability for one connector: the outbox (``Connector.send`` goes through it), its relay, the durable inbox.

``Durability.open(url, ...)`` makes the tables in the connector's local database (the
workbench's: a triage decision and its onward message can commit together); pass
``outbox`` and ``inbox`` to ``Connector(...)`` and ``async with durability.running(connector)``
runs the relay and the upkeep (retrying parked messages put back, pruning old ids).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from connectors.agent.config import ConnectorConfig
from connectors.outbox.inbox import DurableInbox, Handler
from connectors.outbox.relay import Relay
from connectors.outbox.store import Counts, Enqueued, OutboxStore, enqueue
from connectors.sdk.connector import Connector, Sealed
from onedoor.envelope.header import Header
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

UPKEEP_S: Final = 2.0
"""How often parked messages put back are retried."""
PRUNE_RECEIVED_S: Final = 600.0
RELAY_STOPPED: Final = "connector.outbox_relay_stopped"


class Outbox:
    """Where ``Connector.send`` puts sealed envelopes; the relay publishes them."""

    def __init__(self, store: OutboxStore, relay: Relay) -> None:
        self.store = store
        self.relay = relay

    async def put(self, sealed: Sequence[Sealed], idempotency_key: str | None = None) -> list[Header]:
        """Enqueue and commit, then wake the relay; the headers kept (see ``store.enqueue`` for the key)."""
        done = await asyncio.to_thread(self.store.put, sealed, idempotency_key=idempotency_key)
        if done.new:
            self.relay.wake()
        return done.headers

    def enqueue(self, session: Session, sealed: Sequence[Sealed], idempotency_key: str | None = None) -> Enqueued:
        """Enqueue inside the caller's transaction; the relay is woken when it commits."""
        done = enqueue(session, sealed, idempotency_key=idempotency_key)
        if done.new:
            event.listen(session, "after_commit", lambda _session: self.relay.wake(), once=True)
        return done

    def same_database(self, engine: Engine) -> bool:
        """Whether ``engine`` is this outbox's database (so one transaction can hold both)."""
        return same_database(self.store.engine, engine)


def same_database(one: Engine, other: Engine) -> bool:
    """Whether two engines reach the same database (the same URL; an in-memory SQLite never is another's)."""
    if one is other:
        return True
    if one.url.get_backend_name() == "sqlite" and one.url.database in (None, "", ":memory:"):
        return False
    return one.url.render_as_string(hide_password=False) == other.url.render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Health:
    """What /healthz reports about durability."""

    outbox_pending: int
    parked: int
    relay_error: str | None
    """The relay's last error type while it cannot publish, else ``None``."""


class Durability:
    """The outbox, relay and durable inbox of one connector, over one database."""

    def __init__(self, store: OutboxStore, relay: Relay, inbox: DurableInbox) -> None:
        self.store = store
        self.relay = relay
        self.outbox = Outbox(store, relay)
        self.inbox = inbox
        self.tasks: list[asyncio.Task[None]] = []

    @classmethod
    def open(
        cls,
        url: str,
        *,
        bootstrap_servers: str,
        topic: str,
        client_id: str,
        producer_options: Mapping[str, Any] | None = None,
        store: OutboxStore | None = None,
    ) -> Durability:
        """Create the tables in ``url`` (or ``store``'s database) and build the relay and inbox."""
        store = (store or OutboxStore(url)).create()
        relay = Relay(
            store,
            bootstrap_servers=bootstrap_servers,
            topic=topic,
            client_id=client_id,
            producer_options=producer_options,
        )
        return cls(store, relay, DurableInbox(store))

    @property
    def stopped(self) -> bool:
        """Whether the relay task ended (a bug: it runs until cancelled)."""
        return any(task.done() for task in self.tasks)

    def counts(self) -> Counts:
        """Pending outbox rows and parked messages (a database read)."""
        return self.store.counts()

    async def health(self) -> Health:
        """Counts and the relay's state."""
        counts = await asyncio.to_thread(self.store.counts)
        return Health(counts.outbox_pending, counts.parked, self.relay.last_error)

    @asynccontextmanager
    async def running(self, connector: Connector, handler: Handler | None = None) -> AsyncIterator[Durability]:
        """Run the relay (and, with ``handler``, retry parked messages put back) until the block ends."""
        self.tasks = [asyncio.create_task(self.relay.run(), name=f"outbox-relay-{connector.agency}")]
        if handler is not None:
            self.tasks.append(
                asyncio.create_task(self._upkeep(connector, handler), name=f"inbox-upkeep-{connector.agency}")
            )
        pending = await asyncio.to_thread(self.store.pending_count)
        log.info("outbox.started", agency=connector.agency, pending=pending)
        try:
            yield self
        finally:
            for task in self.tasks:
                task.cancel()
            for task in self.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _upkeep(self, connector: Connector, handler: Handler) -> None:
        since_prune = PRUNE_RECEIVED_S
        while True:
            await asyncio.sleep(UPKEEP_S)
            since_prune += UPKEEP_S
            try:
                await self.inbox.retry_parked(connector.open, handler)
                if since_prune >= PRUNE_RECEIVED_S:
                    since_prune = 0.0
                    pruned = await asyncio.to_thread(self.store.prune_received)
                    if pruned:
                        log.info("inbox.pruned", count=pruned)
            except Exception as exc:  # noqa: BLE001 - upkeep must not stop; the next round tries again
                log.warning("inbox.upkeep_failed", error=type(exc).__name__)


def open_durability(config: ConnectorConfig, bootstrap_servers: str, **producer_options: Any) -> Durability:
    """The running connector's durability, in its workbench database (one database, one transaction)."""
    return Durability.open(
        config.workbench_database_url(),
        bootstrap_servers=bootstrap_servers,
        topic=TopicNames(config.kafka.topic_prefix).outbound(config.agency_id),
        client_id=f"onedoor-connector-{config.agency}-relay",
        producer_options=producer_options,
    )


async def health_details(backend: object) -> dict[str, object]:
    """``/healthz`` details of a backend with ``durability``: counts only (no token needed, nothing personal)."""
    durability = getattr(backend, "durability", None)
    if not isinstance(durability, Durability):
        return {}
    health = await durability.health()
    details: dict[str, object] = {"outbox_pending": health.outbox_pending, "parked": health.parked}
    if health.relay_error is not None:
        details["relay_error"] = health.relay_error
    return details
