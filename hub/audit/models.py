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
        Index("ix_audit_event_subject_token", "subject_token"),
        Index("uq_audit_event_seq", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    """The row's position in the hash chain: 1, 2, 3 ... with no gaps (``hub.audit.chain``)."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    """The previous row's ``row_hash`` (64 zeros for seq 1)."""
    row_hash: Mapped[str] = mapped_column(String(64))
    """Hex SHA-256 over the canonical encoding of ``prev_hash``, ``seq`` and every other column but ``id``."""
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
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    """Routing decisions: milliseconds from the sender's submit to the route decision."""


class AuditChainHead(Base):
    """The one row (id 1) naming the chain's last ``seq`` and ``row_hash``: every append locks it first."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement that the chain had ``row_hash`` at ``seq`` (Ed25519, the hub's audit key)."""

    __tablename__ = "audit_checkpoint"
    __table_args__ = (Index("ix_audit_checkpoint_seq", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str] = mapped_column(String(35))
    signature: Mapped[str] = mapped_column(String(128))
    """Hex Ed25519 signature over ``hub.audit.chain.checkpoint_payload``."""
