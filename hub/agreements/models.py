"""Agreement tables: every version ever proposed, and every approval given. Nothing is deleted.

A version's content (``body``, ``digest``) never changes once written; only its ``state`` moves,
and every move is also an ``agreement.*`` row in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.agencies.models import UtcDateTime, _enum
from hub.agreements.lifecycle import VersionState
from onedoor.db import Base


class AgreementVersion(Base):
    """One version of an information-sharing agreement."""

    __tablename__ = "agreement_version"
    __table_args__ = (
        # Explicit name: the "uq" naming convention uses only the first column.
        UniqueConstraint("agreement_id", "version", name="uq_agreement_version_agreement_id_version"),
        CheckConstraint("version >= 1", name="version_from_one"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[str] = mapped_column(String(64), index=True)
    """The agreement's ``AgreementId`` slug."""
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[VersionState] = mapped_column(_enum(VersionState, "agreement_state"))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The validated ``AgreementBody`` as JSON."""
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of the body's canonical JSON."""
    proposed_by: Mapped[str] = mapped_column(String(255))
    """The proposer's token subject."""
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When ``state`` last moved."""
    approvals: Mapped[list[AgreementApproval]] = relationship(
        lazy="selectin", order_by="AgreementApproval.id", back_populates="agreement_version"
    )


class AgreementApproval(Base):
    """One party agency's approval of one version: who, when, and the digest of what they approved."""

    __tablename__ = "agreement_approval"
    __table_args__ = (UniqueConstraint("version_id", "agency_id", name="uq_agreement_approval_version_id_agency_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("agreement_version.id"), index=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"))
    approver: Mapped[str] = mapped_column(String(255))
    """The approving agency admin's token subject."""
    approved_at: Mapped[datetime] = mapped_column(UtcDateTime())
    digest: Mapped[str] = mapped_column(String(64))
    """The digest the approver supplied; always equal to the version's digest."""
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    """The agency's Ed25519 signature of the approval (``hub.agreements.signing``), when one was given."""
    key_id: Mapped[str | None] = mapped_column(String(35))
    """The agency signing key that verified ``signature``."""
    agreement_version: Mapped[AgreementVersion] = relationship(back_populates="approvals")
