"""Search the audit trail: by message, agency, agreement, subject token or kind; newest first, by seq pages.

Only ids and metadata come back: the audit table holds nothing else (never a body or a name).
Each filter is a validated identifier (``SearchFilter``), so nothing typed reaches SQL as text
to interpret; an agency matches rows where it acted or was a recipient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from hub.audit.chain import utc
from hub.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, AgreementId, MessageId, SubjectToken

MAX_LIMIT: Final = 200
DEFAULT_LIMIT: Final = 50
KIND_PATTERN: Final = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_Id = TypeVar("_Id", MessageId, AgencyId, AgreementId, SubjectToken)


def _parsed(kind: type[_Id], raw: str | None, hint: str) -> _Id | None:
    # The value is never echoed back: a name typed into the wrong box must not travel further.
    value = (raw or "").strip()
    if not value:
        return None
    if not kind.pattern.fullmatch(value):
        raise ValidationFailed(f"{kind.kind}.invalid", f"not a valid {kind.kind}: {hint}")
    return kind(value)


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What to look for; every field optional, all given ones must match."""

    message_id: MessageId | None = None
    agency: AgencyId | None = None
    agreement: AgreementId | None = None
    subject_token: SubjectToken | None = None
    kind: str | None = None
    limit: int = DEFAULT_LIMIT
    before_seq: int | None = None

    @classmethod
    def parse(
        cls,
        *,
        message_id: str | None = None,
        agency: str | None = None,
        agreement: str | None = None,
        subject_token: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        before_seq: int | None = None,
    ) -> SearchFilter:
        """Validate raw values (empty means not given).

        Raises:
            ValidationFailed: ``message_id.invalid``, ``agency_id.invalid``, ``agreement_id.invalid``,
                ``subject_token.invalid``, ``audit.kind_invalid`` or ``audit.limit_invalid``.
        """
        if kind and not KIND_PATTERN.fullmatch(kind):
            raise ValidationFailed("audit.kind_invalid", "kind is a dotted event name such as route.delivered")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise ValidationFailed("audit.limit_invalid", f"limit is between 1 and {MAX_LIMIT}")
        if before_seq is not None and before_seq < 1:
            raise ValidationFailed("audit.before_seq_invalid", "before_seq is a chain position, 1 or more")
        return cls(
            message_id=_parsed(MessageId, message_id, "a message id is a lowercase UUID"),
            agency=_parsed(AgencyId, agency, "an agency id is a slug such as met-police"),
            agreement=_parsed(AgreementId, agreement, "an agreement id is a slug such as isa-met-hackney"),
            subject_token=_parsed(SubjectToken, subject_token, "a subject token starts st1_ (never a name)"),
            kind=kind or None,
            limit=limit or DEFAULT_LIMIT,
            before_seq=before_seq,
        )

    @property
    def empty(self) -> bool:
        """No filter given (the newest events of every kind)."""
        return not (self.message_id or self.agency or self.agreement or self.subject_token or self.kind)


def _agency(agency: str) -> ColumnElement[bool]:
    # recipients is "a,b,c": match a whole element, never a prefix of another agency's id.
    recipients = AuditEvent.recipients
    return or_(
        AuditEvent.actor == agency,
        recipients == agency,
        recipients.startswith(agency + ","),
        recipients.endswith("," + agency),
        recipients.contains("," + agency + ","),
    )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of events, newest first, and where the next (older) page starts."""

    events: list[AuditEvent]
    next_before_seq: int | None


def search(session: Session, where: SearchFilter) -> Page:
    """Events matching ``where``, newest first (by chain position), at most ``where.limit``."""
    stmt = select(AuditEvent)
    if where.message_id:
        stmt = stmt.where(AuditEvent.message_id == where.message_id)
    if where.agreement:
        stmt = stmt.where(AuditEvent.agreement_id == where.agreement)
    if where.subject_token:
        stmt = stmt.where(AuditEvent.subject_token == where.subject_token)
    if where.kind:
        stmt = stmt.where(AuditEvent.kind == where.kind)
    if where.agency:
        stmt = stmt.where(_agency(where.agency))
    if where.before_seq is not None:
        stmt = stmt.where(AuditEvent.seq < where.before_seq)
    events = list(session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(where.limit + 1)))
    more = len(events) > where.limit
    events = events[: where.limit]
    return Page(events=events, next_before_seq=events[-1].seq if more and events else None)


@dataclass(frozen=True, slots=True)
class ChainState:
    """Where the chain is now: its head and its newest checkpoint (cheap to read on every request)."""

    head_seq: int
    head_hash: str | None
    checkpoint_seq: int | None
    checkpoint_at: datetime | None


def chain_state(session: Session) -> ChainState:
    """The head row and the newest checkpoint."""
    head = session.get(AuditChainHead, 1)
    last = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()
    return ChainState(
        head_seq=head.seq if head is not None else 0,
        head_hash=head.row_hash if head is not None else None,
        checkpoint_seq=last.seq if last is not None else None,
        checkpoint_at=utc(last.at) if last is not None else None,
    )
