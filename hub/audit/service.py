"""Append audit events, one at a time (API) or in batches (router)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.models import AuditEvent


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


def append_now(factory: sessionmaker[Session], entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in a transaction of their own."""
    with factory() as session, session.begin():
        append(session, entries)


def by_message(session: Session, message_id: str) -> list[AuditEvent]:
    """Every event about one message, oldest first."""
    stmt = select(AuditEvent).where(AuditEvent.message_id == message_id).order_by(AuditEvent.id)
    return list(session.scalars(stmt))
