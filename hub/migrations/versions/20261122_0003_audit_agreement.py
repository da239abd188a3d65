"""Audit rows say which agreement (and version), purpose and subject token a decision concerned.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:20:00

Written by hand to match ``hub.audit.models``; ``tests/integration/test_migrations.py``
compares it with the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("agreement_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("agreement_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("purpose", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("subject_token", sa.String(length=96), nullable=True))
        batch.create_index("ix_audit_event_agreement_id", ["agreement_id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_index("ix_audit_event_agreement_id")
        batch.drop_column("subject_token")
        batch.drop_column("purpose")
        batch.drop_column("agreement_version")
        batch.drop_column("agreement_id")
