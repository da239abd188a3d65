"""The dead-letter index: metadata of each record on the dead-letter topic. Never a body or a token.

One row per dead-letter record, keyed by its partition and offset on the dead-letter topic,
so the ingest can re-read a record any number of times. A message id can have several rows (a
sender's retry refused again, the router re-reading a batch after a crash, a replay refused
again): replay state is kept per row, and a replay marks every row of its message.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.agencies.models import UtcDateTime, _enum
from onedoor.db import Base


class ReplayState(StrEnum):
    """Where a dead letter stands."""

    NONE = "none"
    """Not replayed (a replay may be refused with ``deadletter.cause_not_fixed``: nothing changes)."""
    REPLAYED = "replayed"
    """Handed back to the router once; never again."""
    REFUSED = "refused"
    """Can never be replayed (tampered, expired, refused by its recipient ...); ``refused_reason`` says why."""


class DeadLetter(Base):
    """One record on the dead-letter topic, as metadata."""

    __tablename__ = "dead_letter"
    __table_args__ = (
        Index("ix_dead_letter_message_id", "message_id"),
        Index("ix_dead_letter_rejected_at", "rejected_at"),
        Index("ix_dead_letter_reason_code", "reason_code"),
    )

    dl_partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """Partition of the dead-letter topic the record is on."""
    dl_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Its offset there: replay re-reads the original bytes from here."""
    message_id: Mapped[str | None] = mapped_column(String(36))
    """``None`` when the envelope was too malformed to name one (never replayable)."""
    sender: Mapped[str | None] = mapped_column(String(64))
    """The owner of the outbound topic it came from (or the recipient that reported it)."""
    contract: Mapped[str | None] = mapped_column(String(128))
    contract_version: Mapped[int | None] = mapped_column(Integer)
    recipients: Mapped[str | None] = mapped_column(Text)
    """Comma-separated agency ids the envelope was addressed to."""
    reason_code: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    """The router's short, non-personal sentence (codes and agency ids only)."""
    source: Mapped[str | None] = mapped_column(String(255))
    """``topic:partition:offset`` the router read it from."""
    reported_by: Mapped[str | None] = mapped_column(String(64))
    """Set when a recipient refused the envelope after delivery and reported it."""
    rejected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    replay_state: Mapped[ReplayState] = mapped_column(_enum(ReplayState, "dead_letter_replay_state"))
    replayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    replayed_by: Mapped[str | None] = mapped_column(String(64))
    """The operator (token subject) who replayed it."""
    replay_outcome: Mapped[str | None] = mapped_column(String(255))
    """What the replay led to: ``requeued`` until the router routes it, then ``delivered`` or ``rejected: <code>``."""
    refused_reason: Mapped[str | None] = mapped_column(String(255))
    """Why it can never be replayed (state ``refused``)."""
