"""Append audit events, one at a time (API) or in batches (router)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.audit import chain
from hub.audit.models import AuditEvent

# Core, not ORM: the router appends thousands of rows a second and needs no objects back.
_INSERT = insert(cast(Table, AuditEvent.__table__))


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An audit event before it is written."""

    kind: str
    """What was decided, e.g. ``route.delivered``."""
    outcome: str
    """``delivered``/``rejected`` or ``permit``/``deny``."""
    actor: str | None = None
    reason_code: str | None = None
    message_id: str | None = None
    correlation_id: str | None = None
    contract: str | None = None
    contract_version: int | None = None
    recipients: str | None = None
    source: str | None = None
    expires_at: datetime | None = None
    agreement_id: str | None = None
    agreement_version: int | None = None
    purpose: str | None = None
    subject_token: str | None = None
    detail: str | None = None
    latency_ms: int | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


_HASHED = chain.HASHED_FIELDS
_COLUMNS = ("seq", "prev_hash", "row_hash", *_HASHED)
_AT, _EXPIRES = _HASHED.index("at"), _HASHED.index("expires_at")
# Built from our own table's column names, never from input.
_SQLITE_INSERT = f"INSERT INTO audit_event ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
# An UPDATE first: SQLite takes its write lock at once and PostgreSQL holds the row lock to commit,
# so appends from the API and the router are serialized and each sees the head the last one left.
_LOCK_HEAD = text("UPDATE audit_chain_head SET seq = seq WHERE id = 1 RETURNING seq, row_hash")
_MOVE_HEAD = text("UPDATE audit_chain_head SET seq = :seq, row_hash = :row_hash WHERE id = 1")
_LAST_ROW = text("SELECT seq, row_hash FROM audit_event ORDER BY seq DESC LIMIT 1")
_MAKE_HEAD = text(
    "INSERT INTO audit_chain_head (id, seq, row_hash) VALUES (1, :seq, :row_hash) ON CONFLICT (id) DO NOTHING"
)


def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DateTime storage format (naive UTC), so the ORM reads these rows back.
    return None if value is None else value.replace(tzinfo=None).isoformat(" ", "microseconds")


def lock_head(connection: Connection) -> tuple[int, str]:
    """Lock the chain head until the transaction ends and return its ``(seq, row_hash)``.

    A database made without the migrations (``create_all``) has no head row yet: it is made
    from the last row, or the genesis, and locked.
    """
    found = connection.execute(_LOCK_HEAD).first()
    if found is None:
        last = connection.execute(_LAST_ROW).first()
        seq, row_hash = (int(last[0]), str(last[1])) if last is not None else (0, chain.GENESIS)
        connection.execute(_MAKE_HEAD, {"seq": seq, "row_hash": row_hash})
        found = connection.execute(_LOCK_HEAD).one()
    return int(found[0]), str(found[1])


def append_rows(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Append pre-built rows (column name to value) in one executemany: the router's fast path.

    Each row is chained: the head is locked, every row gets the next ``seq``, the previous
    row's hash and its own (``hub.audit.chain``), then the head moves to the last row. On
    SQLite the rows go straight to the driver: SQLAlchemy's per-row parameter processing
    holds the GIL for several µs a row, which the router's event loop feels as latency.
    """
    if not rows:
        return
    connection = session.connection()
    seq, prev = lock_head(connection)
    sqlite = connection.dialect.name == "sqlite"
    normalise, hash_values = chain.normalise, chain.hash_values
    params: list[Any] = []
    for row in rows:
        values = normalise([row.get(c) for c in _HASHED])
        seq += 1
        digest = hash_values(seq, prev, values)
        if sqlite:
            values[_AT] = _sqlite_datetime(values[_AT])
            values[_EXPIRES] = _sqlite_datetime(values[_EXPIRES])
            params.append((seq, prev, digest, *values))
        else:
            params.append(dict(zip(_COLUMNS, (seq, prev, digest, *values), strict=True)))
        prev = digest
    if sqlite:
        connection.exec_driver_sql(_SQLITE_INSERT, params)
    else:
        connection.execute(_INSERT, params)
    connection.execute(_MOVE_HEAD, {"seq": seq, "row_hash": prev})


def append_now_rows(factory: sessionmaker[Session], rows: Sequence[dict[str, object]]) -> None:
    """Append pre-built rows in a transaction of their own."""
    with factory() as session, session.begin():
        append_rows(session, rows)


def append(session: Session, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` inside the caller's transaction (one executemany)."""
    append_rows(session, [asdict(e) for e in entries])


def append_now(factory: sessionmaker[Session], entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in a transaction of their own."""
    append_now_rows(factory, [asdict(e) for e in entries])


def by_message(session: Session, message_id: str) -> list[AuditEvent]:
    """Every event about one message, oldest first."""
    stmt = select(AuditEvent).where(AuditEvent.message_id == message_id).order_by(AuditEvent.seq)
    return list(session.scalars(stmt))
