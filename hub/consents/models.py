"""Consent tables: every status recorded and every emergency override, per subject token. Nothing is deleted.

A row never holds a name or free text: the subject is its opaque token, the person who
recorded it a login or staff number, the reasoning a code from a fixed list plus an optional
opaque reference to the agency's own case record. Rows are append-only; only an override's
review fields are ever set after it was written (once).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.agencies.models import UtcDateTime, _enum
from hub.consents.enums import NotSoughtGround, OverrideGround, RecordedStatus
from onedoor.db import Base

TOKEN_LENGTH = 96
"""Column width of a subject token (``st1_`` and at most 86 characters)."""
STAFF_LENGTH = 64
REFERENCE_LENGTH = 64


class ConsentRecord(Base):
    """One consent status recorded for one young person by one agency."""

    __tablename__ = "consent_record"
    __table_args__ = (
        CheckConstraint(
            "(status = 'not-sought-risk') = (justification IS NOT NULL)", name="justification_iff_not_sought"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_token: Mapped[str] = mapped_column(String(TOKEN_LENGTH), index=True)
    """The young person's ``SubjectToken``; never a name."""
    status: Mapped[RecordedStatus] = mapped_column(_enum(RecordedStatus, "consent_status"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When the hub stored it (the hub's clock): the latest record per token is the consent state."""
    recorded_by: Mapped[str] = mapped_column(String(STAFF_LENGTH))
    """A login or staff number of the practitioner who recorded it, not a name."""
    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"))
    """The recording agency."""
    justification: Mapped[NotSoughtGround | None] = mapped_column(_enum(NotSoughtGround, "consent_ground"))
    """Why consent was not sought; set for ``not-sought-risk`` only."""
    reference: Mapped[str | None] = mapped_column(String(REFERENCE_LENGTH))
    """Optional opaque reference to the agency's own case record, where the reasoning is written."""


class ConsentOverride(Base):
    """A time-boxed emergency override of a refusal or withdrawal; in force only once a second person reviewed it."""

    __tablename__ = "consent_override"
    __table_args__ = (
        CheckConstraint("expires_at > starts_at", name="expires_after_start"),
        CheckConstraint("(reviewed_by IS NULL) = (reviewed_at IS NULL)", name="review_complete"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_token: Mapped[str] = mapped_column(String(TOKEN_LENGTH), index=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"))
    """The recording agency; only its admins review the override."""
    recorded_by: Mapped[str] = mapped_column(String(STAFF_LENGTH))
    """A login or staff number, not a name."""
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """At most ``consent.subject.MAX_OVERRIDE`` after ``starts_at``."""
    justification: Mapped[OverrideGround] = mapped_column(_enum(OverrideGround, "override_ground"))
    reference: Mapped[str | None] = mapped_column(String(REFERENCE_LENGTH))
    reviewed_by: Mapped[str | None] = mapped_column(String(STAFF_LENGTH))
    """The second person; never ``recorded_by`` (case-insensitive). Set once."""
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
