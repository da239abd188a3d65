"""The few audit rows the fleet figures need, read incrementally: the audit table is large and has no index on kind.

Per database engine, the API process remembers how far up the ``audit_event`` ids it has read and
keeps the ``policy.applied`` effect times and each referral's first ``intake.progress`` time. Each
call reads only the rows added since (by primary key), re-reading the last ``OVERLAP`` ids: on
PostgreSQL a transaction may commit after a later id is already visible, and re-reading is
idempotent (effects by row id, first moves by minimum).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from hub.audit.models import AuditEvent
from hub.fleet.effect import POLICY_APPLIED, EffectClass, parse_detail

TRIAGE_PROGRESS_KIND: Final = "intake.progress"
OVERLAP: Final = 20_000
"""Ids re-read on every call, for transactions that committed out of id order."""


@dataclass(frozen=True, slots=True)
class Effect:
    """One ``policy.applied`` row."""

    row_id: int
    at: datetime
    """When the router's reload finished."""
    kind: EffectClass
    """What the router found in force for the key once reloaded."""
    effect_ms: int
    key: str | None
    """The agreement id or subject token the announcement named."""

    @property
    def committed_ms(self) -> int:
        """When the announced change committed (Unix ms, the API's clock)."""
        return round(self.at.timestamp() * 1000) - self.effect_ms


@dataclass(slots=True)
class AuditTail:
    """What has been read of one database's audit table so far."""

    last_id: int = 0
    effects: dict[int, Effect] = field(default_factory=dict)
    """``policy.applied`` rows by audit id."""
    first_moves: dict[str, datetime] = field(default_factory=dict)
    """Each public referral's first progress report, by reference."""
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class TailView:
    """A copy of a tail, safe to read while other threads bring the tail up to date."""

    effects: list[Effect]
    first_moves: dict[str, datetime]


_TAILS: WeakKeyDictionary[Engine, AuditTail] = WeakKeyDictionary()
_TAILS_LOCK = threading.Lock()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def read(session: Session) -> TailView:
    """The tail of this session's database, brought up to date (call from a worker thread)."""
    engine = _engine(session)
    with _TAILS_LOCK:
        tail = _TAILS.get(engine)
        if tail is None:
            tail = _TAILS[engine] = AuditTail()
    with tail.lock:
        top = session.scalar(select(func.max(AuditEvent.id))) or 0
        if top < tail.last_id:  # the table was emptied or the database replaced: start over
            tail.last_id, tail.effects, tail.first_moves = 0, {}, {}
        rows = session.execute(
            select(
                AuditEvent.id,
                AuditEvent.at,
                AuditEvent.kind,
                AuditEvent.source,
                AuditEvent.detail,
                func.coalesce(AuditEvent.agreement_id, AuditEvent.subject_token),
            ).where(
                AuditEvent.id > tail.last_id - OVERLAP,
                AuditEvent.id <= top,
                AuditEvent.kind.in_((POLICY_APPLIED, TRIAGE_PROGRESS_KIND)),
            )
        )
        for row_id, at, kind, source, detail, key in rows:
            moment = _utc(at)
            if kind == POLICY_APPLIED:
                parsed = parse_detail(detail)
                if parsed is not None:
                    tail.effects[row_id] = Effect(row_id, moment, parsed[0], parsed[1], key)
            elif source:
                reference = source.removeprefix("reference=")
                known = tail.first_moves.get(reference)
                tail.first_moves[reference] = moment if known is None else min(known, moment)
        tail.last_id = top
        return TailView(list(tail.effects.values()), dict(tail.first_moves))
