"""Case events: rows of the agency's database after a stored position, sent as messages.

Each feed (``events`` in the mapping) polls a table, view or query for the rows after the stored
``(watermark, key)`` position, in (watermark, key) order (``key`` is a column unique per row, so
rows sharing a watermark value, two events in the same second, are each read once and never
dropped at a batch boundary), and makes one ``OutboundRequest`` per row (the body built from
columns and constants, nested by field path; the header's subject token from the feed's
``subject_token`` column, or derived from the row's name and date-of-birth columns under the matching
key (``subject_token: {derive: ...}``), or the body's own ``subject_token`` field). The position is stored
(``<data dir>/sql-watermarks.sqlite3``) after each row the outbox took, so a restart carries
on where it stopped, never skipped; each row is sent under the idempotency key
``sql:<adapter>:<feed>:<key>``, so a crash after the outbox took a row but before its position
was stored does not send it twice (with the connector's outbox). A row the connector refuses for
good (a body that does not fit the contract, no agreement, no or a malformed subject token) is
logged by its key and passed over; the outbox or the database being unavailable (also when
finding the latest row on the very first start) stops the batch until the next poll.
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

from sqlalchemy import Engine, and_, column, or_, select, text
from sqlalchemy.exc import DBAPIError

from connectors.adapters.base import Outbound, OutboundRequest
from connectors.adapters.sql.database import UNAVAILABLE, BoundFeed
from connectors.adapters.sql.mapping import NO_MATCHING_KEY, NO_SUBJECT_TOKEN, map_key
from connectors.adapters.subjects import BODY_FIELD, about_a_child, token_or_none
from connectors.identity.subject import SubjectColumns, UnderivableSubject, subject_token_from_row
from onedoor.errors import OneDoorError, Unavailable, ValidationFailed
from onedoor.ids import AgencyId
from onedoor.logging import get_logger

log = get_logger(__name__)

WATERMARKS_FILE: Final = "sql-watermarks.sqlite3"
EVENT_SKIPPED: Final = "adapter.sql.event_skipped"
BAD_SUBJECT_TOKEN: Final = "adapter.sql.bad_subject_token"  # noqa: S105 - an error code
UNDERIVABLE_SUBJECT: Final = "adapter.sql.underivable_subject"


class Watermarks:
    """The last (watermark, key) sent per adapter and feed, in a small SQLite file of the connector's own."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS watermarks "
            "(adapter TEXT, feed TEXT, value TEXT, row_key TEXT, PRIMARY KEY (adapter, feed))"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(watermarks)")}
        if "row_key" not in columns:  # a file from before rows were paged on (watermark, key)
            self._db.execute("ALTER TABLE watermarks ADD COLUMN row_key TEXT")

    def get(self, adapter: str, feed: str) -> tuple[bool, Any]:
        """``(stored, value)``: whether a watermark is stored, and its value (``None``: none yet)."""
        stored, value, _ = self.position(adapter, feed)
        return stored, value

    def position(self, adapter: str, feed: str) -> tuple[bool, Any, Any]:
        """``(stored, watermark, key)`` of the last row passed (``None`` key: every row at the watermark)."""
        row = self._db.execute(
            "SELECT value, row_key FROM watermarks WHERE adapter = ? AND feed = ?", (adapter, feed)
        ).fetchone()
        if row is None:
            return False, None, None
        return True, _decode(row[0]), None if row[1] is None else _decode(row[1])

    def put(self, adapter: str, feed: str, value: Any, key: Any = None) -> None:
        """Store ``(value, key)`` as the feed's position: the next read starts after that row."""
        self._db.execute(
            "INSERT INTO watermarks (adapter, feed, value, row_key) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (adapter, feed) DO UPDATE SET value = excluded.value, row_key = excluded.row_key",
            (adapter, feed, _encode(value), None if key is None else _encode(key)),
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


def _source(bound: BoundFeed) -> Any:
    """What the feed selects from: the reflected table, or the operator's query as a subquery.

    A query's columns are addressed as SQLAlchemy columns, so their names are quoted by the dialect
    (never pasted into SQL text: a mixed-case PostgreSQL name works, a mapping cannot inject SQL).
    """
    if bound.table is not None:
        return bound.table
    assert bound.query is not None  # noqa: S101 - BoundFeed holds a table or a query
    names = bound.feed.columns_used()
    return text(bound.query).columns(*(column(name) for name in names)).subquery("onedoor_events")


def read_new(
    engine: Engine, bound: BoundFeed, after: Any, *, stored: bool, after_key: Any = None
) -> list[dict[str, Any]]:
    """Rows after ``(after, after_key)`` in (watermark, key) order (at most ``batch``).

    ``stored=False``: from the first row. ``after_key=None``: after every row at ``after``.

    Raises:
        Unavailable: ``adapter.sql.unavailable``.
    """
    feed = bound.feed
    source = _source(bound)
    mark, key = source.c[feed.watermark], source.c[feed.key]
    statement = select(*(source.c[c] for c in feed.columns_used()))
    if stored and after is not None:
        if after_key is None or feed.key == feed.watermark:
            statement = statement.where(mark > after)
        else:
            statement = statement.where(or_(mark > after, and_(mark == after, key > after_key)))
    statement = statement.order_by(mark, key).limit(feed.batch)
    try:
        with engine.connect() as conn:
            rows = conn.execute(statement).mappings().all()
    except DBAPIError as exc:
        raise Unavailable(UNAVAILABLE, f"cannot read events ({type(exc.orig).__name__})") from None
    return [dict(row) for row in rows]


def latest(engine: Engine, bound: BoundFeed) -> tuple[Any, Any]:
    """The last row's (watermark, key) there now (``(None, None)`` for an empty table).

    Raises:
        Unavailable: ``adapter.sql.unavailable``.
    """
    feed = bound.feed
    source = _source(bound)
    mark, key = source.c[feed.watermark], source.c[feed.key]
    statement = select(mark, key).order_by(mark.desc(), key.desc()).limit(1)
    try:
        with engine.connect() as conn:
            row = conn.execute(statement).first()
    except DBAPIError as exc:
        raise Unavailable(UNAVAILABLE, f"cannot read events ({type(exc.orig).__name__})") from None
    return (None, None) if row is None else (row[0], row[1])


def make_request(adapter: str, bound: BoundFeed, row: Mapping[str, Any]) -> OutboundRequest:
    """The message one event row becomes.

    Raises:
        ValidationFailed: ``adapter.sql.no_subject_token`` (a row about a child with no token),
            ``adapter.sql.bad_subject_token`` (not an ``st1_`` token) or ``adapter.sql.underivable_subject``
            (a derived token's identifier column empty or invalid); the row is passed over.
    """
    feed = bound.feed
    body: dict[str, Any] = {}
    for path, source in feed.body.items():
        value = source.value if source.column is None else row[source.column]
        if source.map is not None and value is not None:
            value = source.map.get(map_key(value), value)
        _put(body, path, _wire(value))
    subject = feed.subject_column()
    derived = feed.derived_from()
    token: str | None
    try:
        if derived is not None:
            token = _derived(feed.name, bound, derived, row)
        else:
            token = None if subject is None else token_or_none(row[subject])
    except ValueError:
        raise ValidationFailed(BAD_SUBJECT_TOKEN, f"events.{feed.name}: {subject!r} is not an st1_ token") from None
    if token is None and about_a_child(feed.contract):
        raise ValidationFailed(NO_SUBJECT_TOKEN, f"events.{feed.name}: the row has no subject token in {subject!r}")
    if bound.body_subject:
        body[BODY_FIELD] = token
    return OutboundRequest(
        contract=feed.contract,
        version=feed.version,
        recipients=tuple(AgencyId(r) for r in feed.recipients),
        purpose=feed.purpose,
        body=body,
        source=f"{adapter}:{feed.name}:{row[feed.key]}",
        idempotency_key=f"sql:{adapter}:{feed.name}:{_encode(row[feed.key])}",
        subject_token=token,
    )


def _derived(feed: str, bound: BoundFeed, columns: SubjectColumns, row: Mapping[str, Any]) -> str:
    """The subject token derived from the row's identifiers (the row's columns named, never their values).

    Raises:
        ValidationFailed: ``adapter.sql.underivable_subject`` (a column empty or not a date of birth),
            ``adapter.sql.no_matching_key``.
    """
    if bound.matching_key is None:  # bind refuses such a feed; kept for a BoundFeed built by hand
        raise ValidationFailed(NO_MATCHING_KEY, f"events.{feed}: deriving the subject token needs the matching key")
    try:
        return str(subject_token_from_row(bound.matching_key, columns, row))
    except UnderivableSubject as exc:
        raise ValidationFailed(
            UNDERIVABLE_SUBJECT, f"events.{feed}: column {exc.column!r}: no subject token ({exc.code})"
        ) from None


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
    stored, after, after_key = marks.position(adapter, feed.name)
    if not stored and feed.start == "latest":
        marks.put(adapter, feed.name, *await asyncio.to_thread(latest, engine, bound))
        return 0
    rows = await asyncio.to_thread(read_new, engine, bound, after, stored=stored, after_key=after_key)
    sent = 0
    for row in rows:
        mark, key = row[feed.watermark], row[feed.key]
        try:
            await out(make_request(adapter, bound, row))
        except OneDoorError as exc:
            if exc.retriable:
                log.warning("adapter.sql.event_deferred", adapter=adapter, feed=feed.name, code=exc.code)
                return sent
            log.warning(EVENT_SKIPPED, adapter=adapter, feed=feed.name, key=str(key), code=exc.code)
        else:
            sent += 1
        marks.put(adapter, feed.name, mark, key)
    return sent
