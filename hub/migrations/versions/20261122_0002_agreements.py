"""Agreements: every version of every information-sharing agreement, and every approval.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:40:00

Written by hand to match ``hub.agreements.models``; ``tests/integration/test_migrations.py``
compares it with the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = ("proposed", "active", "suspended", "superseded", "revoked", "expired")


def upgrade() -> None:
    op.create_table(
        "agreement_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*_STATES, name="agreement_state", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("proposed_by", sa.String(length=255), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_agreement_version_version_from_one")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_version")),
        sa.UniqueConstraint("agreement_id", "version", name="uq_agreement_version_agreement_id_version"),
    )
    op.create_index(
        op.f("ix_agreement_version_agreement_id"), "agreement_version", ["agreement_id"], unique=False
    )
    op.create_table(
        "agreement_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=255), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=35), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agreement_approval_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["agreement_version.id"], name=op.f("fk_agreement_approval_version_id_agreement_version")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_approval")),
        sa.UniqueConstraint("version_id", "agency_id", name="uq_agreement_approval_version_id_agency_id"),
    )
    op.create_index(
        op.f("ix_agreement_approval_version_id"), "agreement_approval", ["version_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("agreement_approval")
    op.drop_table("agreement_version")
