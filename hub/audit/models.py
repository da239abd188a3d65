"""Audit table. Metadata only: ids, contract, parties, reason codes. Never a body or a name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onedoor.db import Base


class AuditEvent(Base):
    """One decision the hub took."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_message_id", "message_id"),
        Index("ix_audit_event_expires_at", "expires_at"),
        Index("ix_audit_event_agreement_id", "agreement_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(64))
    """What was decided: ``route.delivered``, ``route.rejected``, ``api.authz`` ..."""
    actor: Mapped[str | None] = mapped_column(String(64))
    """Who asked: the sending agency, or the API caller."""
    outcome: Mapped[str] = mapped_column(String(16))
    """``permit`` or ``deny`` (authorization), ``delivered`` or ``rejected`` (routing)."""
    reason_code: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(36))
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    contract: Mapped[str | None] = mapped_column(String(128))
    contract_version: Mapped[int | None] = mapped_column(Integer)
    recipients: Mapped[str | None] = mapped_column(Text)
    """Comma-separated agency ids the envelope was addressed to."""
    source: Mapped[str | None] = mapped_column(String(255))
    """``topic:partition:offset`` of a routed record, or the API route."""
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    agreement_id: Mapped[str | None] = mapped_column(String(64))
    """The sharing agreement a routing decision was taken under (named in the header)."""
    agreement_version: Mapped[int | None] = mapped_column(Integer)
    """The version of that agreement in force when it was decided."""
    purpose: Mapped[str | None] = mapped_column(String(64))
    """The processing purpose the sender relied on."""
    subject_token: Mapped[str | None] = mapped_column(String(96))
    """The opaque subject token of a routed message, or of a consent record (never a name)."""
    detail: Mapped[str | None] = mapped_column(Text)
    """Short non-personal explanation (never payload, token or key material)."""
