"""What ``GET /audit/...`` answers: audit rows (the columns, nothing more) and the chain's status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel

from hub.audit.chain import utc
from hub.audit.models import AuditEvent
from hub.audit.search import ChainState, Page
from hub.audit.verify import Verification


class AuditEventOut(BaseModel):
    """One audit row: ids and metadata, exactly the table's columns."""

    seq: int
    """The row's position in the hash chain."""
    id: int
    at: datetime
    kind: str
    actor: str | None
    outcome: str
    reason_code: str | None
    message_id: str | None
    correlation_id: str | None
    contract: str | None
    contract_version: int | None
    recipients: str | None
    source: str | None
    expires_at: datetime | None
    agreement_id: str | None
    agreement_version: int | None
    purpose: str | None
    subject_token: str | None
    detail: str | None
    latency_ms: int | None
    prev_hash: str
    row_hash: str

    @classmethod
    def from_row(cls, row: AuditEvent) -> Self:
        """The response form of a row (times in UTC)."""
        return cls(
            seq=row.seq,
            id=row.id,
            at=utc(row.at),
            kind=row.kind,
            actor=row.actor,
            outcome=row.outcome,
            reason_code=row.reason_code,
            message_id=row.message_id,
            correlation_id=row.correlation_id,
            contract=row.contract,
            contract_version=row.contract_version,
            recipients=row.recipients,
            source=row.source,
            expires_at=utc(row.expires_at) if row.expires_at is not None else None,
            agreement_id=row.agreement_id,
            agreement_version=row.agreement_version,
            purpose=row.purpose,
            subject_token=row.subject_token,
            detail=row.detail,
            latency_ms=row.latency_ms,
            prev_hash=row.prev_hash,
            row_hash=row.row_hash,
        )


class AuditPageOut(BaseModel):
    """A page of events, newest first; ask for ``before_seq=next_before_seq`` for the next (older) page."""

    events: list[AuditEventOut]
    next_before_seq: int | None

    @classmethod
    def from_page(cls, page: Page) -> Self:
        """The response form of a ``Page``."""
        return cls(events=[AuditEventOut.from_row(e) for e in page.events], next_before_seq=page.next_before_seq)


class VerificationOut(BaseModel):
    """The latest background verification of the whole chain."""

    status: Literal["verified", "broken"]
    verified_at: datetime
    seconds: float
    rows: int
    first_seq: int | None
    last_seq: int | None
    """Verified up to this seq (when verified); the rows before the broken one (when broken)."""
    checkpoints: int
    purged: bool
    """The oldest rows are gone (expired): verification started at ``first_seq``."""
    code: str | None
    """What is wrong: ``audit.row_altered``, ``audit.link_broken``, ``audit.record_missing`` ..."""
    broken_seq: int | None
    broken_id: int | None
    message: str | None
    notes: list[str]

    @classmethod
    def from_verification(cls, result: Verification) -> Self:
        """The response form of a ``Verification``."""
        report, problem = result.report, result.report.problem
        return cls(
            status="verified" if problem is None else "broken",
            verified_at=result.at,
            seconds=round(result.seconds, 3),
            rows=report.rows,
            first_seq=report.first_seq,
            last_seq=report.last_seq,
            checkpoints=report.checkpoints,
            purged=report.purged,
            code=problem.code if problem else None,
            broken_seq=problem.seq if problem else None,
            broken_id=problem.id if problem else None,
            message=problem.message if problem else None,
            notes=list(report.notes),
        )


class ChainStatusOut(BaseModel):
    """The chain now (head, newest checkpoint) and the latest verification (``null`` until the first ends)."""

    head_seq: int
    head_hash: str | None
    checkpoint_seq: int | None
    checkpoint_at: datetime | None
    verification: VerificationOut | None

    @classmethod
    def of(cls, state: ChainState, result: Verification | None) -> Self:
        """The status from the head, the checkpoint and the cached verification."""
        return cls(
            head_seq=state.head_seq,
            head_hash=state.head_hash,
            checkpoint_seq=state.checkpoint_seq,
            checkpoint_at=state.checkpoint_at,
            verification=VerificationOut.from_verification(result) if result is not None else None,
        )
