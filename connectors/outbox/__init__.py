"""Durable sending and receiving for a connector: a transactional outbox, its relay, a durable inbox.

See ``docs/architecture.md`` ("Durable outbox and inbox").
"""

from connectors.outbox.backoff import HANDLER_FAILED, Backoff
from connectors.outbox.inbox import DurableInbox
from connectors.outbox.relay import Relay
from connectors.outbox.service import Durability, Outbox
from connectors.outbox.store import Enqueued, OutboxStore, enqueue, record_received

__all__ = [
    "HANDLER_FAILED",
    "Backoff",
    "Durability",
    "DurableInbox",
    "Enqueued",
    "Outbox",
    "OutboxStore",
    "Relay",
    "enqueue",
    "record_received",
]
