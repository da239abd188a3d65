"""Intake tables: the triage desk's intake public key, and metadata of each public referral.

Never the form: the content travels sealed to the triage desk on Kafka and is not stored here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.agencies.models import UtcDateTime, _enum
from hub.intake.enums import ReferralStatus
from onedoor.db import Base

REFERENCE_LENGTH = 11
"""``OD-`` and eight characters."""


class IntakeKey(Base):
    """An agency's intake public key (ECDH P-256, raw uncompressed point); one per agency."""

    __tablename__ = "intake_key"

    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(36))
    """``ik1_`` and 32 hex digits of SHA-256 over the point."""
    public_key: Mapped[bytes] = mapped_column(LargeBinary(65))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PublicReferral(Base):
    """That a public referral arrived, where it went and how far it got; nothing it said."""

    __tablename__ = "public_referral"

    reference: Mapped[str] = mapped_column(String(REFERENCE_LENGTH), primary_key=True)
    """What the referrer is shown, e.g. ``OD-7KQ2M9XD``."""
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    triage_agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"), index=True)
    status: Mapped[ReferralStatus] = mapped_column(_enum(ReferralStatus, "public_referral_status"))
    status_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    """SHA-256 (hex) of the private progress link's token; the token itself is never stored."""
    status_updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
