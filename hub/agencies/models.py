"""Agency and public-key tables. Public keys only: the hub never sees a private key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Enum, ForeignKey, Index, LargeBinary, String, TypeDecorator, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.agencies.enums import AgencyKind, AgencyStatus, KeyAlgorithm, KeyStatus, KeyUse
from onedoor.db import Base


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite drops the zone on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: OneDoor stores aware UTC timestamps only")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[Any], name: str) -> Enum:
    # VARCHAR plus a CHECK constraint rather than a native PostgreSQL type: portable to SQLite
    # and a new member needs no ALTER TYPE. Values ("children-services"), not member names.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Agency(Base):
    """An organisation that sends and receives sealed envelopes through the hub."""

    __tablename__ = "agency"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The agency's ``AgencyId`` slug."""
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[AgencyKind] = mapped_column(_enum(AgencyKind, "agency_kind"))
    status: Mapped[AgencyStatus] = mapped_column(_enum(AgencyStatus, "agency_status"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    keys: Mapped[list[AgencyKey]] = relationship(
        back_populates="agency", lazy="selectin", order_by="(AgencyKey.created_at, AgencyKey.use, AgencyKey.key_id)"
    )


class AgencyKey(Base):
    """One raw 32-byte public key of an agency, identified by its fingerprint."""

    __tablename__ = "agency_key"
    __table_args__ = (
        # At most one current key per agency and use; enforced by the database, not only the service.
        Index(
            "uq_agency_key_current",
            "agency_id",
            "use",
            unique=True,
            sqlite_where=text("status = 'current'"),
            postgresql_where=text("status = 'current'"),
        ),
    )

    key_id: Mapped[str] = mapped_column(String(35), primary_key=True)
    """``KeyId.for_public_key(public_key)``."""
    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"), index=True)
    use: Mapped[KeyUse] = mapped_column(_enum(KeyUse, "key_use"))
    algorithm: Mapped[KeyAlgorithm] = mapped_column(_enum(KeyAlgorithm, "key_algorithm"))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    """The raw public key bytes (never a private key)."""
    status: Mapped[KeyStatus] = mapped_column(_enum(KeyStatus, "key_status"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """After this instant the key is no longer trusted; set when it is retired."""
    agency: Mapped[Agency] = relationship(back_populates="keys")
