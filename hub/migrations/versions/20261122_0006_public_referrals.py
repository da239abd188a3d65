"""Public referrals: the triage desk's intake public key, and metadata of each referral (never its content).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 18:00:00

Written by hand to match ``hub.intake.models``; ``tests/integration/test_migrations.py``
compares it with the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the enum's values: a migration never imports application code.
_STATUSES = ("received", "being-handled", "closed")


def upgrade() -> None:
    op.create_table(
        "intake_key",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=65), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_intake_key_agency_id_agency")),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_intake_key")),
    )
    op.create_table(
        "public_referral",
        sa.Column("reference", sa.String(length=11), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("triage_agency_id", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*_STATUSES, name="public_referral_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("status_token_hash", sa.String(length=64), nullable=True),
        sa.Column("status_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["triage_agency_id"], ["agency.id"], name=op.f("fk_public_referral_triage_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_public_referral")),
        sa.UniqueConstraint("status_token_hash", name=op.f("uq_public_referral_status_token_hash")),
    )
    op.create_index(op.f("ix_public_referral_triage_agency_id"), "public_referral", ["triage_agency_id"], unique=False)


def downgrade() -> None:
    op.drop_table("public_referral")
    op.drop_table("intake_key")
