"""The connector's durability tables: the outbox, the received message ids, the parked messages.

They live in the connector's local database next to the workbench tables (SQLite by default,
PostgreSQL supported), so an agency-side change and the messages it causes commit together.
Times are milliseconds since the epoch (UTC). No table holds plaintext: the outbox and the
parked messages hold sealed envelope bytes only.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from onedoor.db import NAMING_CONVENTION

PARKED: Final = "parked"
IDEMPOTENCY_INDEX: Final = "ux_outbox_messages_idempotency_key"
RETRY: Final = "retry"
"""A parked message an operator put back (``onedoor connector parked --retry``): the inbox delivers it again."""


class Base(DeclarativeBase):
    """Declarative base of the durability tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OutboxRow(Base):
    """One sealed envelope waiting for (or past) the agency's outbound topic."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_pending", "delivered_at_ms", "id"),
        Index(IDEMPOTENCY_INDEX, "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    """Publication order."""
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    key: Mapped[bytes] = mapped_column(LargeBinary)
    """The Kafka record key (the subject token, else the correlation id)."""
    value: Mapped[bytes] = mapped_column(LargeBinary)
    """The sealed envelope."""
    sender: Mapped[str] = mapped_column(String(64))
    contract: Mapped[str] = mapped_column(String(200))
    contract_version: Mapped[int] = mapped_column(Integer)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    """The header's ``created_at`` (the CloudEvents ``ce_time``)."""
    expires_at_ms: Mapped[int] = mapped_column(BigInteger)
    enqueued_at_ms: Mapped[int] = mapped_column(BigInteger)
    delivered_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """When the broker acknowledged it; ``None`` while pending."""
    idempotency_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    """``<sha256 of the caller's key>.<envelope index>`` for a keyed send (``enqueue(..., idempotency_key=)``):
    a second send under the same key adds nothing. Unique (a unique index, so an older database gains it
    by ``OutboxStore.create``); null for unkeyed sends."""


class ReceivedRow(Base):
    """A message id the agency's application has had (or that was parked): never handed over twice."""

    __tablename__ = "received_messages"
    __table_args__ = (Index("ix_received_expires", "expires_at_ms"),)

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at_ms: Mapped[int] = mapped_column(BigInteger)
    """The envelope's expiry: after it no copy can be opened, so the id may be forgotten."""
    received_at_ms: Mapped[int] = mapped_column(BigInteger)


class ParkedRow(Base):
    """A received envelope the application could not take: kept with the reason, never retried forever."""

    __tablename__ = "parked_messages"
    __table_args__ = (Index("ix_parked_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    sender: Mapped[str] = mapped_column(String(64))
    contract: Mapped[str] = mapped_column(String(200))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    """The sealed envelope as received (opened again on retry)."""
    reason: Mapped[str] = mapped_column(String(100))
    """A dotted code: the ``DeliveryRefused`` code, or ``handler.failed``."""
    detail: Mapped[str] = mapped_column(Text)
    """The refusal's message, or the exception type: never a body."""
    attempts: Mapped[int] = mapped_column(Integer)
    parked_at_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=PARKED)
    """``parked``, or ``retry`` once put back."""
