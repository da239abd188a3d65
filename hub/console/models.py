"""Console sign-in sessions: one row per signed-in browser. Never the token itself.

The browser's cookie holds a random session id; the row is keyed by its SHA-256, so a copy of
this table signs nobody in. The roles and agency are copied from the verified token at sign-in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.agencies.models import UtcDateTime
from onedoor.db import Base


class ConsoleSession(Base):
    """A live console session (deleted at sign-out; expired ones are purged)."""

    __tablename__ = "console_session"
    __table_args__ = (Index("ix_console_session_expires_at", "expires_at"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 (hex) of the cookie's session id."""
    subject: Mapped[str] = mapped_column(String(64))
    """The token's ``sub``: who signed in."""
    roles: Mapped[str] = mapped_column(String(128))
    """The token's roles, comma-separated."""
    agency: Mapped[str | None] = mapped_column(String(64))
    """The token's ``agency`` claim (agency-admin only)."""
    csrf: Mapped[str] = mapped_column(String(64))
    """This session's CSRF token (every form posts it back)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """The earlier of the token's expiry and sign-in plus the absolute lifetime."""
