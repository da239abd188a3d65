"""Registry tables: a contract (its name and compatibility mode) and its numbered versions.

Only schemas and their digests: never a message body.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onedoor.db import Base


class Contract(Base):
    """A data contract, known by its record's full name."""

    __tablename__ = "contract"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    """Full Avro name, e.g. ``onedoor.referral.MasterReferral``."""
    compatibility: Mapped[str] = mapped_column(String(32))
    """A ``CompatibilityMode`` value, checked when a version is registered."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractVersion(Base):
    """One registered schema of a contract. Versions count from 1 and are never changed."""

    __tablename__ = "contract_version"
    __table_args__ = (
        # Explicit names: the "uq" naming convention uses only the first column and would
        # give both constraints the same name.
        UniqueConstraint("name", "version", name="uq_contract_version_name_version"),
        UniqueConstraint("name", "fingerprint", "digest", name="uq_contract_version_name_fingerprint_digest"),
        CheckConstraint("version >= 1", name="version_from_one"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), ForeignKey("contract.name", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    schema_json: Mapped[str] = mapped_column(Text)
    """The schema exactly as first registered (docs included)."""
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the Parsing Canonical Form (hex)."""
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the schema without docs (hex): covers tags, which the fingerprint does not."""
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    """Field path to sensitivity tag."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
