"""The case transfer table: an offer from a child's lead agency to candidates in a new area.

Like the network it holds tokens and agency ids only. The offer's detail (age band, area,
needs) travels end-to-end encrypted between connectors and never reaches the hub.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.agencies.models import UtcDateTime, _enum
from hub.network.models import TOKEN_LENGTH
from hub.transfers.enums import TransferStatus
from onedoor.db import Base


class Transfer(Base):
    """One transfer offer and, once a candidate took it, its acceptance."""

    __tablename__ = "transfer"
    __table_args__ = (
        CheckConstraint(
            "(status = 'accepted') = (accepted_by IS NOT NULL AND accepted_at IS NOT NULL)",
            name="accepted_iff_acceptor",
        ),
    )

    transfer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """A ``TransferId`` (a random UUID)."""
    subject_token: Mapped[str] = mapped_column(String(TOKEN_LENGTH), index=True)
    """The young person's ``SubjectToken``; never a name."""
    offered_by: Mapped[str] = mapped_column(ForeignKey("agency.id"))
    """The offering agency: the lead of the network when it offered."""
    candidates: Mapped[list[str]] = mapped_column(JSON)
    """The candidate agencies' ids, sorted; each registered and active when offered."""
    status: Mapped[TransferStatus] = mapped_column(_enum(TransferStatus, "transfer_status"))
    accepted_by: Mapped[str | None] = mapped_column(ForeignKey("agency.id"))
    """The candidate that accepted; set once, together with ``accepted_at``."""
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
