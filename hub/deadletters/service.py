"""Dead letters for operators: list, summarise, and replay once the cause is fixed.

A replay (hub-operator only) re-reads the dead letter's original bytes from the dead-letter
topic, judges them against the CURRENT registry, agreements and consent with the router's own
``decide`` (``hub.deadletters.replay.judge``), and only if they would now be delivered hands
them back to the router on the replay topic (``hub.deadletters.wire``). Exactly once: the
message's rows are claimed with one conditional update (``none`` -> ``replayed``) before the
bytes are published, so a second replay, even a concurrent one, is ``deadletter.already_replayed``;
and the router's replay window refuses any second copy that reached it (``envelope.replayed``).
Every attempt is audited: ``deadletter.replayed`` or ``deadletter.replay_refused``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.models import AuditEvent
from hub.audit.service import AuditEntry, append, append_now
from hub.deadletters import broker
from hub.deadletters.models import DeadLetter, ReplayState
from hub.deadletters.replay import CauseNotFixed, NotReplayable, judge, original_sender
from hub.explain.sentences import sentence
from hub.router.decide import Limits
from hub.router.tables import RoutingTables
from onedoor.db import transaction
from onedoor.errors import Conflict, NotFound, Unavailable
from onedoor.kafka.security import ClientCredentials
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

REQUEUED = "requeued"
"""``replay_outcome`` until the router has routed the replayed copy."""
REPLAYED_KIND = "deadletter.replayed"
REFUSED_KIND = "deadletter.replay_refused"


# --- reading ---------------------------------------------------------------------------------


def list_dead_letters(
    session: Session, *, reason: str | None = None, sender: str | None = None, limit: int = 200
) -> list[DeadLetter]:
    """Dead letters, newest first, optionally only one reason code or one sender."""
    stmt = select(DeadLetter)
    if reason:
        stmt = stmt.where(DeadLetter.reason_code == reason)
    if sender:
        stmt = stmt.where(DeadLetter.sender == sender)
    stmt = stmt.order_by(DeadLetter.rejected_at.desc(), DeadLetter.dl_offset.desc()).limit(limit)
    return list(session.scalars(stmt))


def of_message(session: Session, message_id: str) -> list[DeadLetter]:
    """Every dead letter of one message id, newest first."""
    stmt = (
        select(DeadLetter)
        .where(DeadLetter.message_id == message_id)
        .order_by(DeadLetter.rejected_at.desc(), DeadLetter.dl_offset.desc())
    )
    return list(session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class DeadLetterSummary:
    """What the ops dashboard shows of dead letters."""

    total: int
    by_reason: dict[str, int]
    """Count of dead letters per reason code, largest first."""
    awaiting_replay: int
    """Dead letters not replayed and not ruled out (state ``none``)."""
    oldest_unreplayed_at: datetime | None
    """When the oldest of those was refused."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        oldest = self.oldest_unreplayed_at
        return {
            "total": self.total,
            "by_reason": dict(self.by_reason),
            "awaiting_replay": self.awaiting_replay,
            "oldest_unreplayed_at": None if oldest is None else oldest.isoformat(),
        }


def summary(session: Session) -> DeadLetterSummary:
    """Counts by reason, the total, and the oldest dead letter still awaiting a replay."""
    counts = session.execute(
        select(DeadLetter.reason_code, func.count()).group_by(DeadLetter.reason_code).order_by(func.count().desc())
    ).tuples()
    by_reason = {str(code): int(n) for code, n in counts}
    waiting, oldest = session.execute(
        select(func.count(), func.min(DeadLetter.rejected_at)).where(DeadLetter.replay_state == ReplayState.NONE)
    ).one()
    if isinstance(oldest, str):  # SQLite returns an aggregate of the column as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return DeadLetterSummary(
        total=sum(by_reason.values()), by_reason=by_reason, awaiting_replay=int(waiting), oldest_unreplayed_at=oldest
    )


def settle_outcomes(session: Session) -> int:
    """Record what became of replayed copies the router has since routed; returns how many were settled."""
    pending = list(
        session.scalars(
            select(DeadLetter).where(
                DeadLetter.replay_state == ReplayState.REPLAYED, DeadLetter.replay_outcome.startswith(REQUEUED)
            )
        )
    )
    settled = 0
    for row in pending:
        if row.message_id is None or row.replayed_at is None:
            continue
        delivered = session.scalar(
            select(AuditEvent.id)
            .where(
                AuditEvent.message_id == row.message_id,
                AuditEvent.kind == "route.delivered",
                AuditEvent.at >= row.replayed_at,
            )
            .limit(1)
        )
        if delivered is not None:
            row.replay_outcome = "delivered"
            settled += 1
            continue
        again = session.scalar(
            select(DeadLetter.reason_code)
            .where(DeadLetter.message_id == row.message_id, DeadLetter.rejected_at >= row.replayed_at)
            .order_by(DeadLetter.rejected_at.desc())
            .limit(1)
        )
        if again is not None:
            row.replay_outcome = f"rejected: {again}"
            settled += 1
    return settled


def mark_later_letters(session: Session, rows: Sequence[DeadLetter]) -> None:
    """A dead letter of a message already replayed is ruled out: a message is replayed once."""
    ids = {r.message_id for r in rows if r.message_id and r.replay_state is ReplayState.NONE}
    if not ids:
        return
    replayed = set(
        session.scalars(
            select(DeadLetter.message_id).where(
                DeadLetter.message_id.in_(ids), DeadLetter.replay_state == ReplayState.REPLAYED
            )
        )
    )
    for row in rows:
        if row.message_id in replayed and row.replay_state is ReplayState.NONE:
            row.replay_state = ReplayState.REFUSED
            row.refused_reason = "refused again after its replay: a dead letter is replayed once"


# --- replay ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayContext:
    """What a replay needs: the database, the broker, the router's tables and limits."""

    factory: sessionmaker[Session]
    bootstrap: str | None
    topics: TopicNames
    load_tables: Any
    """``() -> RoutingTables``: a fresh snapshot of the registry, agreements and consent (blocking)."""
    limits: Limits
    credentials: ClientCredentials | None = None


@dataclass(frozen=True, slots=True)
class ReplayDone:
    """A dead letter handed back to the router."""

    message_id: str
    original_reason: str
    replayed_at: datetime
    replayed_by: str
    requeued_at: str
    """``topic:partition:offset`` on the replay topic."""


def _audit(
    kind: str, outcome: str, *, by: str, message_id: str, code: str | None, source: str, detail: str, row: Any = None
) -> AuditEntry:
    return AuditEntry(
        kind=kind,
        outcome=outcome,
        actor=by[:64],
        reason_code=code,
        message_id=message_id,
        contract=None if row is None else row.contract,
        contract_version=None if row is None else row.contract_version,
        recipients=None if row is None else row.recipients,
        source=source[:255],
        detail=detail[:2000],
    )


def _refuse(ctx: ReplayContext, *, by: str, message_id: str, code: str, source: str, message: str) -> Conflict:
    append_now(
        ctx.factory,
        [_audit(REFUSED_KIND, "deny", by=by, message_id=message_id, code=code, source=source, detail=message)],
    )
    log.info("deadletter.replay_refused", code=code, message_id=message_id)
    return Conflict(code, message)


def _look(ctx: ReplayContext, message_id: str) -> tuple[DeadLetter, bool, bool]:
    """The newest dead letter of the message; whether any was replayed; whether the router delivered it."""
    with ctx.factory() as session:
        rows = of_message(session, message_id)
        if not rows:
            raise NotFound("deadletter.not_found", f"no dead letter with message id {message_id}")
        replayed = any(r.replay_state is ReplayState.REPLAYED for r in rows)
        delivered = session.scalar(
            select(AuditEvent.id)
            .where(AuditEvent.message_id == message_id, AuditEvent.kind == "route.delivered")
            .limit(1)
        )
        session.expunge_all()
        return rows[0], replayed, delivered is not None


def _rule_out(ctx: ReplayContext, message_id: str, why: str, entry: AuditEntry) -> None:
    with transaction(ctx.factory) as session:
        session.execute(
            update(DeadLetter)
            .where(DeadLetter.message_id == message_id, DeadLetter.replay_state == ReplayState.NONE)
            .values(replay_state=ReplayState.REFUSED, refused_reason=why[:255])
        )
        append(session, [entry])


def _claim(ctx: ReplayContext, message_id: str, by: str, at: datetime, entry: AuditEntry) -> bool:
    with transaction(ctx.factory) as session:
        claimed = session.execute(
            update(DeadLetter)
            .where(DeadLetter.message_id == message_id, DeadLetter.replay_state == ReplayState.NONE)
            .values(replay_state=ReplayState.REPLAYED, replayed_at=at, replayed_by=by[:64], replay_outcome=REQUEUED)
        )
        if not getattr(claimed, "rowcount", 0):
            return False
        append(session, [entry])
        return True


def _release(ctx: ReplayContext, message_id: str, at: datetime, entry: AuditEntry) -> None:
    with transaction(ctx.factory) as session:
        session.execute(
            update(DeadLetter)
            .where(DeadLetter.message_id == message_id, DeadLetter.replayed_at == at)
            .values(replay_state=ReplayState.NONE, replayed_at=None, replayed_by=None, replay_outcome=None)
        )
        append(session, [entry])


def _requeued(ctx: ReplayContext, message_id: str, at: datetime, position: str) -> None:
    with transaction(ctx.factory) as session:
        session.execute(
            update(DeadLetter)
            .where(
                DeadLetter.message_id == message_id,
                DeadLetter.replayed_at == at,
                DeadLetter.replay_outcome == REQUEUED,
            )
            .values(replay_outcome=f"{REQUEUED} at {position}"[:255])
        )


async def replay(ctx: ReplayContext, message_id: str, *, by: str, source: str) -> ReplayDone:
    """Replay the dead letter of ``message_id`` if its cause is fixed; audited either way.

    Raises:
        NotFound: ``deadletter.not_found``.
        Conflict: ``deadletter.already_replayed``, ``deadletter.already_delivered``,
            ``deadletter.not_replayable`` (never deliverable) or ``deadletter.cause_not_fixed``
            (it would still be refused; the message names the current reason). Nothing changed.
        Unavailable: ``deadletter.broker_unavailable``: no broker, or it did not answer; nothing changed.
    """
    row, replayed, delivered = await asyncio.to_thread(_look, ctx, message_id)

    def refuse(code: str, message: str) -> Conflict:
        return _refuse(ctx, by=by, message_id=message_id, code=code, source=source, message=message)

    async def never(why: str, detail: str) -> Conflict:
        """Mark the dead letter never replayable (audited with ``detail``); the refusal to raise."""
        entry = _audit(
            REFUSED_KIND,
            "deny",
            by=by,
            message_id=message_id,
            code="deadletter.not_replayable",
            source=source,
            detail=detail,
            row=row,
        )
        await asyncio.to_thread(_rule_out, ctx, message_id, why, entry)
        return Conflict("deadletter.not_replayable", f"this dead letter can never be replayed: {why}")

    if replayed:
        raise await asyncio.to_thread(
            refuse, "deadletter.already_replayed", "this dead letter was already replayed once"
        )
    if delivered:
        raise await asyncio.to_thread(
            refuse, "deadletter.already_delivered", "the router has already delivered a message with this id"
        )
    if row.replay_state is ReplayState.REFUSED:
        raise await asyncio.to_thread(
            refuse, "deadletter.not_replayable", f"this dead letter can never be replayed: {row.refused_reason}"
        )
    if ctx.bootstrap is None:
        raise Unavailable("deadletter.broker_unavailable", "the hub API has no broker configured")
    position = f"{row.dl_partition}:{row.dl_offset}"
    stored = await broker.read_dead_letter(
        ctx.bootstrap, ctx.topics, row.dl_partition, row.dl_offset, credentials=ctx.credentials
    )
    if stored is None:
        why = "the original record is no longer on the dead-letter topic (retention)"
        raise await never(why, why)
    sender = original_sender(row.source, stored.headers, ctx.topics)
    tables: RoutingTables = await asyncio.to_thread(ctx.load_tables)
    verdict = judge(
        stored.value,
        sender=sender,
        original_reason=row.reason_code,
        reported=row.reported_by is not None,
        tables=tables,
        limits=ctx.limits,
        now_ms=int(time.time() * 1000),
    )
    if isinstance(verdict, NotReplayable):
        raise await never(verdict.why, f"{verdict.reason}: {verdict.why}")
    if isinstance(verdict, CauseNotFixed):
        message = (
            f"The cause is not fixed: it would still be refused with {verdict.reason}. "
            f"{sentence(verdict.reason)} Nothing was changed."
        )
        entry = _audit(
            REFUSED_KIND,
            "deny",
            by=by,
            message_id=message_id,
            code="deadletter.cause_not_fixed",
            source=source,
            detail=f"current reason {verdict.reason}: {verdict.detail}",
            row=row,
        )
        await asyncio.to_thread(append_now, ctx.factory, [entry])
        log.info("deadletter.replay_refused", code="deadletter.cause_not_fixed", current=verdict.reason)
        raise Conflict("deadletter.cause_not_fixed", message)

    at = datetime.now(UTC)
    claim = _audit(
        REPLAYED_KIND,
        "permit",
        by=by,
        message_id=message_id,
        code=None,
        source=source,
        detail=f"original reason {row.reason_code}; dead letter {position}",
        row=row,
    )
    if not await asyncio.to_thread(_claim, ctx, message_id, by, at, claim):
        raise await asyncio.to_thread(
            refuse, "deadletter.already_replayed", "this dead letter was already replayed once"
        )
    assert sender is not None  # noqa: S101 - judge delivered it, so decide found its sender
    try:
        requeued = await broker.publish_replay(
            ctx.bootstrap, ctx.topics, stored, sender=sender, dead_letter_position=position, credentials=ctx.credentials
        )
    except BaseException:
        failed = _audit(
            "deadletter.replay_failed",
            "error",
            by=by,
            message_id=message_id,
            code="deadletter.broker_unavailable",
            source=source,
            detail="the replay topic did not acknowledge; claim released",
            row=row,
        )
        await asyncio.shield(asyncio.to_thread(_release, ctx, message_id, at, failed))
        raise
    await asyncio.to_thread(_requeued, ctx, message_id, at, requeued)
    log.info("deadletter.replayed", message_id=message_id, original_reason=row.reason_code, requeued_at=requeued)
    return ReplayDone(
        message_id=message_id, original_reason=row.reason_code, replayed_at=at, replayed_by=by, requeued_at=requeued
    )
