"""Initial schema: agencies and their public keys, the audit log, the contract registry.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:07:16.982906

Generated with ``alembic revision --autogenerate`` against an empty SQLite database, then
reviewed by hand: index operations on brand-new tables need no batch mode, and dropping a
table drops its indexes. Constraint names follow ``onedoor.db.NAMING_CONVENTION``, which
Alembic applies to these operations through the target metadata.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    # VARCHAR + CHECK on every backend (no native PostgreSQL enum types to create or drop).
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "agency_kind",
                "police",
                "children-services",
                "youth-offending",
                "education",
                "health",
                "charity",
                "triage",
            ),
            nullable=False,
        ),
        sa.Column("status", _enum("agency_status", "active", "suspended"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
    )
    op.create_table(
        "agency_key",
        sa.Column("key_id", sa.String(length=35), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("use", _enum("key_use", "signing", "encryption"), nullable=False),
        sa.Column("algorithm", _enum("key_algorithm", "Ed25519", "X25519"), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", _enum("key_status", "current", "retired", "revoked"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_agency_key_agency_id_agency")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_agency_key")),
    )
    op.create_index(op.f("ix_agency_key_agency_id"), "agency_key", ["agency_id"], unique=False)
    # One current key per agency and use.
    op.create_index(
        "uq_agency_key_current",
        "agency_key",
        ["agency_id", "use"],
        unique=True,
        sqlite_where=sa.text("status = 'current'"),
        postgresql_where=sa.text("status = 'current'"),
    )

    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.Column("contract", sa.String(length=128), nullable=True),
        sa.Column("contract_version", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_expires_at", "audit_event", ["expires_at"], unique=False)
    op.create_index("ix_audit_event_message_id", "audit_event", ["message_id"], unique=False)

    op.create_table(
        "contract",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("compatibility", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_contract")),
    )
    op.create_table(
        "contract_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schema_json", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_contract_version_version_from_one")),
        sa.ForeignKeyConstraint(
            ["name"], ["contract.name"], name=op.f("fk_contract_version_name_contract"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_version")),
        sa.UniqueConstraint("name", "fingerprint", "digest", name="uq_contract_version_name_fingerprint_digest"),
        sa.UniqueConstraint("name", "version", name="uq_contract_version_name_version"),
    )


def downgrade() -> None:
    # Children before parents; each table takes its indexes with it.
    op.drop_table("contract_version")
    op.drop_table("contract")
    op.drop_table("audit_event")
    op.drop_table("agency_key")
    op.drop_table("agency")
