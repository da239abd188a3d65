"""The latest heartbeat of each agency's connector: metadata only (versions, key ids, counts, problem codes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.agencies.models import UtcDateTime
from onedoor.db import Base


class ConnectorHeartbeat(Base):
    """One row per agency, replaced by each heartbeat its connector sends (``POST /agencies/me/heartbeat``)."""

    __tablename__ = "connector_heartbeat"

    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When the hub received the latest heartbeat (the hub's clock)."""
    connector_time: Mapped[datetime] = mapped_column(UtcDateTime())
    """The connector's clock when it sent that heartbeat."""
    clock_skew_ms: Mapped[int] = mapped_column(Integer)
    """Hub time minus connector time, less half the connector's last round trip: positive = connector behind."""
    rtt_ms: Mapped[int | None] = mapped_column(Integer)
    """The round trip of the connector's previous heartbeat, as it measured it."""
    interval_s: Mapped[float] = mapped_column(Float)
    """How often the connector says it sends one; three missed make it ``late``."""
    version: Mapped[str] = mapped_column(String(64))
    signing_key_id: Mapped[str] = mapped_column(String(35))
    encryption_key_id: Mapped[str] = mapped_column(String(35))
    outbox_pending: Mapped[int | None] = mapped_column(Integer)
    parked: Mapped[int | None] = mapped_column(Integer)
    problems: Mapped[str] = mapped_column(Text)
    """Comma-separated problem codes the connector reports about itself (empty: none)."""
    beats: Mapped[int] = mapped_column(Integer)
    """Heartbeats received from this agency since its first."""
