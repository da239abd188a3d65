"""The ``sql`` adapter kind: status records from the agency's database, received messages written back, events sent.

``factory(name, options, context)`` parses the options (``SqlOptions``), connects, and checks the
mapping against the live database before anything is read or written (see ``database.bind``).
Writes run in a worker thread so the connector's event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from connectors.adapters.base import AdapterContext, Outbound
from connectors.adapters.registry import describe_options_error, invalid_options
from connectors.adapters.sql.database import Bound, bind, database_url, open_engine
from connectors.adapters.sql.events import WATERMARKS_FILE, Watermarks, poll_once, run_feeds
from connectors.adapters.sql.mapping import SqlOptions
from connectors.adapters.sql.reader import read_status
from connectors.adapters.sql.writer import write_message
from connectors.sdk.connector import ReceivedMessage
from connectors.status.index import StatusRecord
from onedoor.logging import get_logger

log = get_logger(__name__)


class SqlAdapter:
    """One agency database, mapped: ``status_records`` reads it, ``deliver`` writes to it."""

    def __init__(self, name: str, engine: Engine, bound: Bound, watermarks: Watermarks | None = None) -> None:
        self.name = name
        self._engine = engine
        self._bound = bound
        self._watermarks = watermarks

    @property
    def contracts(self) -> frozenset[str]:
        """The contracts whose messages this adapter writes."""
        return frozenset(self._bound.writes)

    @property
    def engine(self) -> Engine:
        """The engine (tests and the demo look at what was written)."""
        return self._engine

    def status_records(self) -> Iterable[StatusRecord]:
        """Every mapped row as a status record (none without a ``status`` mapping).

        Raises:
            Unavailable: ``adapter.sql.unavailable``.
        """
        if self._bound.status is None:
            return []
        return read_status(self.name, self._engine, self._bound.status)

    async def deliver(self, message: ReceivedMessage) -> bool:
        """Write ``message`` if a target maps its contract; ``False`` if none does.

        Raises:
            DeliveryRefused: ``adapter.sql.missing_value``, ``type_mismatch``, ``rejected`` or ``write_failed``.
            DeliveryRetry: ``adapter.sql.unavailable``.
        """
        targets = self._bound.writes.get(str(message.header.contract))
        if not targets:
            return False
        written = await asyncio.to_thread(write_message, self.name, self._engine, targets, message)
        log.info("adapter.sql.written", adapter=self.name, message_id=message.header.message_id, rows=written)
        return True

    async def run(self, outbound: Outbound) -> None:
        """Send new case events (the mapping's ``events``) until cancelled; return at once without any."""
        if self._watermarks is None or not self._bound.events:
            return
        await run_feeds(self.name, self._engine, self._bound.events, self._watermarks, outbound)

    async def poll_events(self, outbound: Outbound) -> int:
        """Poll every event feed once (what ``run`` does every ``poll_seconds``); how many the outbox took.

        Raises:
            Unavailable: ``adapter.sql.unavailable`` when the database cannot be read.
        """
        if self._watermarks is None:
            return 0
        sent = 0
        for bound in self._bound.events:
            sent += await poll_once(self.name, self._engine, bound, self._watermarks, outbound)
        return sent

    async def close(self) -> None:
        """Close the database connections and the watermark file."""
        self._engine.dispose()
        if self._watermarks is not None:
            self._watermarks.close()


def factory(name: str, options: Mapping[str, Any], context: AdapterContext) -> SqlAdapter:
    """Build a ``sql`` adapter: parse the options, connect, check the mapping against the database.

    Raises:
        ValidationFailed: ``adapter.invalid_options`` or an ``adapter.sql.*`` code naming what is wrong.
        Unavailable: ``adapter.sql.unavailable`` when the database cannot be reached.
    """
    try:
        parsed = SqlOptions.model_validate(dict(options))
    except ValidationError as exc:
        raise invalid_options(name, describe_options_error(exc)) from None
    engine = open_engine(name, database_url(name, parsed, context.base_dir))
    try:
        bound = bind(name, engine, parsed, context.matching_key)
    except BaseException:
        engine.dispose()
        raise
    marks = Watermarks(context.data_dir / WATERMARKS_FILE) if bound.events else None
    return SqlAdapter(name, engine, bound, marks)
