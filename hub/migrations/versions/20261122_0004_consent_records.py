"""Consent records: every consent status and every emergency override, per subject token.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 14:00:00

Written by hand to match ``hub.consents.models``; ``tests/integration/test_migrations.py``
compares it with the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the enums' values: a migration never imports application code.
_STATUSES = ("given", "refused", "withdrawn", "not-sought-risk")
_NOT_SOUGHT = ("consent-cannot-be-given", "cannot-reasonably-expect-consent", "would-prejudice-protection")
_OVERRIDE = ("risk-of-significant-harm", "risk-to-life", "prevent-serious-crime")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "consent_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_token", sa.String(length=96), nullable=False),
        sa.Column("status", _enum(_STATUSES, "consent_status"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("justification", _enum(_NOT_SOUGHT, "consent_ground"), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "(status = 'not-sought-risk') = (justification IS NOT NULL)",
            name=op.f("ck_consent_record_justification_iff_not_sought"),
        ),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_consent_record_agency_id_agency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_record")),
    )
    op.create_index(op.f("ix_consent_record_subject_token"), "consent_record", ["subject_token"], unique=False)
    op.create_table(
        "consent_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_token", sa.String(length=96), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("justification", _enum(_OVERRIDE, "override_ground"), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("expires_at > starts_at", name=op.f("ck_consent_override_expires_after_start")),
        sa.CheckConstraint(
            "(reviewed_by IS NULL) = (reviewed_at IS NULL)", name=op.f("ck_consent_override_review_complete")
        ),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_consent_override_agency_id_agency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_override")),
    )
    op.create_index(op.f("ix_consent_override_subject_token"), "consent_override", ["subject_token"], unique=False)


def downgrade() -> None:
    op.drop_table("consent_override")
    op.drop_table("consent_record")
