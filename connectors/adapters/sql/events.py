"""Case events: rows of the agency's database after a stored watermark, sent as messages.

Each feed (``events`` in the mapping) polls a table, view or query for rows whose watermark
column is above the one stored, in watermark order, and makes one ``OutboundRequest`` per row
(the body built from columns and constants, nested by field path). The watermark is stored
(``<data dir>/sql-watermarks.sqlite3``) after each row the outbox took, so a restart carries
on where it stopped: at least once, never skipped. A row the connector refuses for good (a
body that does not fit the contract, no agreement) is logged by its watermark and passed over;
the outbox or the database being unavailable stops the batch until the next poll.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from connectors.adapters.base import Outbound, OutboundRequest
from connectors.adapters.sql.database import UNAVAILABLE, BoundFeed
from connectors.adapters.sql.mapping import map_key
from onedoor.errors import OneDoorError, Unavailable
from onedoor.ids import AgencyId
from onedoor.logging import get_logger

log = get_logger(__name__)

WATERMARKS_FILE: Final = "sql-watermarks.sqlite3"
EVENT_SKIPPED: Final = "adapter.sql.event_skipped"


class Watermarks:
    """The last watermark sent per adapter and feed, in a small SQLite file of the connector's own."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS watermarks (adapter TEXT, feed TEXT, value TEXT, PRIMARY KEY (adapter, feed))"
        )

    def get(self, adapter: str, feed: str) -> tuple[bool, Any]:
        """``(stored, value)``: whether a watermark is stored, and its value (``None``: none yet)."""
        row = self._db.execute(
            "SELECT value FROM watermarks WHERE adapter = ? AND feed = ?", (adapter, feed)
        ).fetchone()
        return (False, None) if row is None else (True, _decode(row[0]))

    def put(self, adapter: str, feed: str, value: Any) -> None:
        """Store ``value`` as the feed's watermark."""
        self._db.execute(
            "INSERT INTO watermarks (adapter, feed, value) VALUES (?, ?, ?) "
            "ON CONFLICT (adapter, feed) DO UPDATE SET value = excluded.value",
            (adapter, feed, _encode(value)),
        )

    def close(self) -> None:
        """Close the file."""
        self._db.close()


def _encode(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return json.dumps({"datetime": value.isoformat()})
    if isinstance(value, dt.date):
        return json.dumps({"date": value.isoformat()})
    if isinstance(value, Decimal):
        return json.dumps({"decimal": str(value)})
    return json.dumps({"value": value})


def _decode(stored: str) -> Any:
    item = json.loads(stored)
    if "datetime" in item:
        return dt.datetime.fromisoformat(item["datetime"])
    if "date" in item:
        return dt.date.fromisoformat(item["date"])
    if "decimal" in item:
        return Decimal(item["decimal"])
    return item["value"]


def read_new(engine: Engine, bound: BoundFeed, after: Any, *, stored: bool) -> list[dict[str, Any]]:
    """Rows above ``after`` in watermark order (at most ``batch``); ``stored=False``: from the first row.

    Raises:
        Unavailable: ``adapter.sql.unavailable``.
    """
    feed = bound.feed
    try:
        with engine.connect() as conn:
            if bound.table is not None:
                mark = bound.table.c[feed.watermark]
                statement = select(*(bound.table.c[c] for c in feed.columns_used()))
                if stored and after is not None:
                    statement = statement.where(mark > after)
                rows = conn.execute(statement.order_by(mark).limit(feed.batch)).mappings().all()
            else:
                sql = f"SELECT * FROM ({bound.query}) AS onedoor_events"  # noqa: S608 - the operator's own query
                params: dict[str, Any] = {"n": feed.batch}
                if stored and after is not None:
                    sql += f" WHERE {feed.watermark} > :after"
                    params["after"] = after
                sql += f" ORDER BY {feed.watermark} LIMIT :n"
                rows = conn.execute(text(sql), params).mappings().all()
    except DBAPIError as exc:
        raise Unavailable(UNAVAILABLE, f"cannot read events ({type(exc.orig).__name__})") from None
    return [dict(row) for row in rows]


def latest(engine: Engine, bound: BoundFeed) -> Any:
    """The highest watermark there now (``None`` for an empty table)."""
    feed = bound.feed
    with engine.connect() as conn:
        if bound.table is not None:
            return conn.execute(select(func.max(bound.table.c[feed.watermark]))).scalar()
        sql = f"SELECT MAX({feed.watermark}) FROM ({bound.query}) AS onedoor_events"  # noqa: S608 - the operator's own query
        return conn.execute(text(sql)).scalar()


def make_request(adapter: str, bound: BoundFeed, row: Mapping[str, Any]) -> OutboundRequest:
    """The message one event row becomes."""
    feed = bound.feed
    body: dict[str, Any] = {}
    for path, source in feed.body.items():
        value = source.value if source.column is None else row[source.column]
        if source.map is not None and value is not None:
            value = source.map.get(map_key(value), value)
        _put(body, path, _wire(value))
    return OutboundRequest(
        contract=feed.contract,
        version=feed.version,
        recipients=tuple(AgencyId(r) for r in feed.recipients),
        purpose=feed.purpose,
        body=body,
        source=f"{adapter}:{feed.name}:{row[feed.watermark]}",
    )


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _wire(value: Any) -> Any:
    # Database values as the contract codec takes them: aware times (naive ones are UTC), whole numbers.
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value


async def run_feeds(
    adapter: str, engine: Engine, feeds: tuple[BoundFeed, ...], marks: Watermarks, out: Outbound
) -> None:
    """Poll every feed until cancelled (return at once without feeds)."""
    if not feeds:
        return
    every = min(bound.feed.poll_seconds for bound in feeds)
    while True:
        for bound in feeds:
            try:
                await poll_once(adapter, engine, bound, marks, out)
            except Unavailable as exc:
                log.warning("adapter.sql.events_unavailable", adapter=adapter, feed=bound.feed.name, code=exc.code)
        await asyncio.sleep(every)


async def poll_once(adapter: str, engine: Engine, bound: BoundFeed, marks: Watermarks, out: Outbound) -> int:
    """Send the feed's new rows (one batch); how many the outbox took.

    Raises:
        Unavailable: the database cannot be read (nothing sent, nothing stored).
    """
    feed = bound.feed
    stored, after = marks.get(adapter, feed.name)
    if not stored and feed.start == "latest":
        marks.put(adapter, feed.name, await asyncio.to_thread(latest, engine, bound))
        return 0
    rows = await asyncio.to_thread(read_new, engine, bound, after, stored=stored)
    sent = 0
    for row in rows:
        mark = row[feed.watermark]
        try:
            await out(make_request(adapter, bound, row))
        except OneDoorError as exc:
            if exc.retriable:
                log.warning("adapter.sql.event_deferred", adapter=adapter, feed=feed.name, code=exc.code)
                return sent
            log.warning(EVENT_SKIPPED, adapter=adapter, feed=feed.name, watermark=str(mark), code=exc.code)
        else:
            sent += 1
        marks.put(adapter, feed.name, mark)
    return sent
