"""The outbox, received-id and parked-message tables, as calls.

``enqueue(session, sealed)`` and ``record_received(session, header)`` join a caller's own
transaction (the agency-side change commits with them, or neither does); ``OutboxStore`` has
one short transaction per call for everything else. ``enqueue(..., idempotency_key=k)`` adds
nothing when envelopes were already enqueued under ``k`` and answers with their headers, so a
caller that crashed between enqueueing and recording it in its own ledger can simply send again.
Synchronous SQLAlchemy, as the workbench store: async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from connectors.outbox.models import IDEMPOTENCY_INDEX, PARKED, RETRY, Base, OutboxRow, ParkedRow, ReceivedRow
from connectors.sdk.connector import Sealed
from onedoor.db import make_engine, make_session_factory, transaction
from onedoor.envelope.cloudevents import ce_headers
from onedoor.envelope.header import Header
from onedoor.envelope.opening import parse_header
from onedoor.errors import NotFound
from onedoor.logging import get_logger

log = get_logger(__name__)

PARKED_NOT_FOUND = "connector.parked_not_found"
RECEIVED_KEPT_MS = 3_600_000
"""How long past its expiry a received id is kept (clock skew between agencies)."""


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return int(time.time() * 1000)


def _row(item: Sealed, at_ms: int) -> dict[str, Any]:
    header = item.header
    return {
        "message_id": str(header.message_id),
        "key": (header.subject_token or header.correlation_id).encode(),
        "value": item.value,
        "sender": str(header.sender),
        "contract": str(header.contract),
        "contract_version": header.contract_version,
        "created_at_ms": header.created_at_ms,
        "expires_at_ms": header.expires_at_ms,
        "enqueued_at_ms": at_ms,
    }


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What ``enqueue`` did."""

    headers: list[Header]
    """The envelopes' headers: the ones just enqueued, or those enqueued before under the same key."""
    new: bool
    """``False``: the idempotency key was used already, nothing was added."""


_KEY_CHUNK = 50


def _key_prefix(idempotency_key: str) -> str:
    # Hashed: a caller's key may be anything (kept short, never shown); ``.<n>`` per envelope of the send.
    return hashlib.sha256(idempotency_key.encode()).hexdigest() + "."


def already_enqueued(session: Session, idempotency_key: str) -> list[Header] | None:
    """The headers of the envelopes enqueued under ``idempotency_key``, in order; ``None`` if none.

    Delivered rows are pruned after ``relay.KEEP_DELIVERED_MS``: a key is remembered that long
    after its envelopes reached the broker.
    """
    prefix = _key_prefix(idempotency_key)
    values: list[bytes] = []
    # Exact keys, ``.0`` upwards, in chunks (no range query: text order depends on the collation).
    while True:
        chunk = [f"{prefix}{n}" for n in range(len(values), len(values) + _KEY_CHUNK)]
        query = select(OutboxRow.value).where(OutboxRow.idempotency_key.in_(chunk)).order_by(OutboxRow.id)
        found = list(session.scalars(query))
        values += found
        if len(found) < _KEY_CHUNK:
            break
    return [parse_header(value)[1] for value in values] or None


def enqueue(session: Session, sealed: Sequence[Sealed], *, idempotency_key: str | None = None) -> Enqueued:
    """Add sealed envelopes to the outbox inside the caller's transaction (nothing is committed here).

    With ``idempotency_key``: if envelopes were enqueued under it before, nothing is added and
    their headers are returned (``new=False``). Two transactions adding the same key at once:
    the second fails with ``IntegrityError`` (the unique index) and rolls back.
    """
    if idempotency_key is not None:
        found = already_enqueued(session, idempotency_key)
        if found is not None:
            return Enqueued(found, new=False)
    if sealed:
        at = now_ms()
        prefix = None if idempotency_key is None else _key_prefix(idempotency_key)
        rows = [
            _row(item, at) | {"idempotency_key": None if prefix is None else f"{prefix}{i}"}
            for i, item in enumerate(sealed)
        ]
        session.execute(insert(OutboxRow), rows)
    return Enqueued([item.header for item in sealed], new=True)


def upgrade(engine: Engine) -> bool:
    """Bring durability tables made by an older connector up to date; ``True`` if anything changed.

    ``create_all`` makes missing tables but never alters one: an ``outbox_messages`` table from
    before idempotency keys gains its nullable column and unique index here (existing rows keep null).
    """
    columns = {column["name"] for column in inspect(engine).get_columns(OutboxRow.__tablename__)}
    if "idempotency_key" in columns:
        return False
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE outbox_messages ADD COLUMN idempotency_key VARCHAR(80)"))
            conn.execute(
                text(f"CREATE UNIQUE INDEX IF NOT EXISTS {IDEMPOTENCY_INDEX} ON outbox_messages (idempotency_key)")
            )
    except (OperationalError, ProgrammingError):
        # Another process of the same connector upgraded it a moment ago.
        columns = {column["name"] for column in inspect(engine).get_columns(OutboxRow.__tablename__)}
        if "idempotency_key" not in columns:
            raise
        return False
    return True


def _insert_ignore(session: Session, values: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(ReceivedRow).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(ReceivedRow).values(values).on_conflict_do_nothing())


def record_received(session: Session, header: Header) -> None:
    """Record ``header``'s message id as handed to the application, inside the caller's transaction.

    A handler that writes the agency-side change calls this in the same transaction; the inbox
    then never hands the id over again, even after a crash between the change and the offset commit.
    """
    values = {"message_id": str(header.message_id), "expires_at_ms": header.expires_at_ms, "received_at_ms": now_ms()}
    _insert_ignore(session, values)


@dataclass(frozen=True, slots=True)
class Pending:
    """One outbox row to publish."""

    id: int
    message_id: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Parked:
    """One parked message, as listed (no body: the envelope stays sealed)."""

    id: int
    message_id: str
    sender: str
    contract: str
    reason: str
    detail: str
    attempts: int
    parked_at_ms: int
    status: str


@dataclass(frozen=True, slots=True)
class ToRetry:
    """A parked message put back: its envelope, to open and deliver again."""

    id: int
    message_id: str
    value: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Counts:
    """What /healthz reports."""

    outbox_pending: int
    parked: int


class OutboxStore:
    """The durability tables in the connector's local database. ``create()`` makes them."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        if engine is None:
            if url.startswith("sqlite:///") and ":memory:" not in url:
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            engine = make_engine(url)
        self.engine = engine
        self.sessions = make_session_factory(engine)

    def create(self) -> OutboxStore:
        """Create missing tables and bring older ones up to date (``upgrade``); returns ``self``."""
        Base.metadata.create_all(self.engine)
        if upgrade(self.engine):
            log.info("outbox.upgraded", change="idempotency_key")
        return self

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work on this database: commit on success, roll back on any error."""
        with transaction(self.sessions) as session:
            yield session

    # Outbox

    def put(self, sealed: Sequence[Sealed], *, idempotency_key: str | None = None) -> Enqueued:
        """Enqueue and commit (a send with no agency-side change of its own); see ``enqueue``."""
        try:
            with self.transaction() as session:
                return enqueue(session, sealed, idempotency_key=idempotency_key)
        except IntegrityError:
            if idempotency_key is None:
                raise
            with self.transaction() as session:  # the same key, enqueued by someone else a moment ago
                found = already_enqueued(session, idempotency_key)
            if found is None:
                raise
            return Enqueued(found, new=False)

    def pending(self, limit: int) -> list[Pending]:
        """The oldest undelivered rows, in order."""
        query = select(OutboxRow).where(OutboxRow.delivered_at_ms.is_(None)).order_by(OutboxRow.id).limit(limit)
        with self.transaction() as session:
            return [
                Pending(
                    row.id,
                    row.message_id,
                    row.key,
                    row.value,
                    ce_headers(
                        message_id=row.message_id,
                        sender=row.sender,
                        contract=row.contract,
                        contract_version=row.contract_version,
                        created_at_ms=row.created_at_ms,
                    ),
                )
                for row in session.scalars(query)
            ]

    def mark_delivered(self, ids: Sequence[int], at_ms: int | None = None) -> None:
        """Mark rows acknowledged by the broker (one UPDATE per 500 ids)."""
        at = at_ms or now_ms()
        with self.transaction() as session:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                session.execute(update(OutboxRow).where(OutboxRow.id.in_(chunk)).values(delivered_at_ms=at))

    def prune_delivered(self, before_ms: int) -> int:
        """Delete rows delivered before ``before_ms``; returns how many."""
        with self.transaction() as session:
            done = session.execute(delete(OutboxRow).where(OutboxRow.delivered_at_ms < before_ms))
            return int(getattr(done, "rowcount", 0))

    def pending_count(self) -> int:
        """How many rows wait for the broker."""
        with self.transaction() as session:
            return int(session.scalar(select(func.count()).where(OutboxRow.delivered_at_ms.is_(None))) or 0)

    def counts(self) -> Counts:
        """Pending outbox rows and parked messages."""
        with self.transaction() as session:
            pending = session.scalar(select(func.count()).where(OutboxRow.delivered_at_ms.is_(None)))
            parked = session.scalar(select(func.count()).select_from(ParkedRow))
            return Counts(int(pending or 0), int(parked or 0))

    # Received ids

    def was_received(self, message_id: str) -> bool:
        """Whether the application has had ``message_id`` (or it was parked)."""
        with self.transaction() as session:
            return session.get(ReceivedRow, message_id) is not None

    def record_received(self, header: Header) -> None:
        """``record_received`` in a transaction of its own."""
        with self.transaction() as session:
            record_received(session, header)

    def prune_received(self, now: int | None = None) -> int:
        """Forget ids whose envelopes expired more than an hour ago; returns how many."""
        cutoff = (now or now_ms()) - RECEIVED_KEPT_MS
        with self.transaction() as session:
            done = session.execute(delete(ReceivedRow).where(ReceivedRow.expires_at_ms < cutoff))
            return int(getattr(done, "rowcount", 0))

    # Parked messages

    def park(self, header: Header, value: bytes, *, reason: str, detail: str, attempts: int) -> None:
        """Keep an envelope the application could not take, and its id as received, in one transaction."""
        with self.transaction() as session:
            record_received(session, header)
            found = session.scalars(select(ParkedRow).where(ParkedRow.message_id == str(header.message_id))).first()
            if found is None:
                session.add(
                    ParkedRow(
                        message_id=str(header.message_id),
                        sender=str(header.sender),
                        contract=str(header.contract),
                        value=value,
                        reason=reason,
                        detail=detail[:500],
                        attempts=attempts,
                        parked_at_ms=now_ms(),
                        status=PARKED,
                    )
                )
            else:
                found.reason, found.detail, found.status = reason, detail[:500], PARKED
                found.attempts += attempts
                found.parked_at_ms = now_ms()

    def parked(self, *, limit: int = 200) -> list[Parked]:
        """Parked messages, newest first."""
        query = select(ParkedRow).order_by(ParkedRow.id.desc()).limit(limit)
        with self.transaction() as session:
            return [
                Parked(
                    r.id, r.message_id, r.sender, r.contract, r.reason, r.detail, r.attempts, r.parked_at_ms, r.status
                )
                for r in session.scalars(query)
            ]

    def retry(self, parked_id: int) -> None:
        """Put a parked message back: the running connector delivers it again.

        Raises:
            NotFound: ``connector.parked_not_found``.
        """
        with self.transaction() as session:
            done = session.execute(update(ParkedRow).where(ParkedRow.id == parked_id).values(status=RETRY))
            if not getattr(done, "rowcount", 0):
                raise NotFound(PARKED_NOT_FOUND, f"no parked message {parked_id}")

    def to_retry(self, *, limit: int = 50) -> list[ToRetry]:
        """Parked messages put back, oldest first."""
        query = select(ParkedRow).where(ParkedRow.status == RETRY).order_by(ParkedRow.id).limit(limit)
        with self.transaction() as session:
            return [ToRetry(r.id, r.message_id, r.value, r.attempts) for r in session.scalars(query)]

    def unpark(self, parked_id: int) -> None:
        """Remove a parked message the application has now taken."""
        with self.transaction() as session:
            session.execute(delete(ParkedRow).where(ParkedRow.id == parked_id))

    def repark(self, parked_id: int, *, reason: str, detail: str, attempts: int) -> None:
        """A retried message failed again: parked again with the new reason."""
        with self.transaction() as session:
            session.execute(
                update(ParkedRow)
                .where(ParkedRow.id == parked_id)
                .values(
                    status=PARKED,
                    reason=reason,
                    detail=detail[:500],
                    attempts=ParkedRow.attempts + attempts,
                    parked_at_ms=now_ms(),
                )
            )
