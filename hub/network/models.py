"""The professional network table: which agencies have an open case on which subject token.

The hub keeps token -> agency and nothing else: no name, no case detail, no reason. A row is
opened when an agency's connector subscribes and closed (never deleted) when it unsubscribes or
its case moves away in a transfer, so the history of who was in a network stays auditable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.agencies.models import UtcDateTime, _enum
from hub.network.enums import NetworkRole
from onedoor.db import Base

TOKEN_LENGTH = 96
"""Column width of a subject token (``st1_`` and at most 86 characters)."""


class NetworkMember(Base):
    """One agency's membership of one child's network, from subscribe to unsubscribe."""

    __tablename__ = "network_member"
    __table_args__ = (
        # One open membership per agency and token, and one open lead per token: the database
        # enforces both, so two racing subscribes or transfers cannot leave a doubled network.
        Index(
            "uq_network_member_open",
            "subject_token",
            "agency_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index(
            "uq_network_member_open_lead",
            "subject_token",
            unique=True,
            sqlite_where=text("closed_at IS NULL AND role = 'lead'"),
            postgresql_where=text("closed_at IS NULL AND role = 'lead'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_token: Mapped[str] = mapped_column(String(TOKEN_LENGTH), index=True)
    """The young person's ``SubjectToken``; never a name."""
    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"), index=True)
    """The member agency."""
    role: Mapped[NetworkRole] = mapped_column(_enum(NetworkRole, "network_role"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When the agency subscribed (the hub's clock)."""
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When the membership ended; ``None`` while the agency has the case open."""
