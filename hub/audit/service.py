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
    detail: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def append(session: Session, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` inside the caller's transaction (one executemany)."""
    if entries:
        session.execute(insert(AuditEvent), [asdict(e) for e in entries])


def append_rows(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Append pre-built rows (column name to value) as one Core executemany: the router's fast path."""
    if rows:
        session.connection().execute(_INSERT, list(rows))


def append_now_rows(factory: sessionmaker[Session], rows: Sequence[dict[str, object]]) -> None:
    """Append pre-built rows in a transaction of their own."""
    with factory() as session, session.begin():
        append_rows(session, rows)


def append_now(factory: sessionmaker[Session], entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in a transaction of their own."""
    with factory() as session, session.begin():
        append(session, entries)


def by_message(session: Session, message_id: str) -> list[AuditEvent]:
    """Every event about one message, oldest first."""
    stmt = select(AuditEvent).where(AuditEvent.message_id == message_id).order_by(AuditEvent.id)
    return list(session.scalars(stmt))
