"""Append audit events, one at a time (API) or in batches (router)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session, sessionmaker

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
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


_COLUMNS = tuple(c.name for c in cast(Table, AuditEvent.__table__).columns if c.name != "id")
# Built from our own table's column names, never from input.
_SQLITE_INSERT = f"INSERT INTO audit_event ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608


def _sqlite_value(value: object) -> object:
    # SQLAlchemy's SQLite DateTime storage format (naive UTC), so the ORM reads these rows back.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def append_rows(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Append pre-built rows (column name to value) in one executemany: the router's fast path.

    On SQLite the rows go straight to the driver: SQLAlchemy's per-row parameter processing
    holds the GIL for several µs a row, which the router's event loop feels as latency.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        params = [tuple(_sqlite_value(row.get(c)) for c in _COLUMNS) for row in rows]
        connection.exec_driver_sql(_SQLITE_INSERT, params)
    else:
        connection.execute(_INSERT, list(rows))


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
    stmt = select(AuditEvent).where(AuditEvent.message_id == message_id).order_by(AuditEvent.id)
    return list(session.scalars(stmt))
