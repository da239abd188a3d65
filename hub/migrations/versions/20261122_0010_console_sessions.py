"""Console sign-in sessions: one row per signed-in browser, keyed by the SHA-256 of its session id.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 11:00:00

Written by hand to match the models; ``tests/integration/test_migrations.py``
compares it with the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.String(length=128), nullable=False),
        sa.Column("agency", sa.String(length=64), nullable=True),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_session")),
    )
    op.create_index("ix_console_session_expires_at", "console_session", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_console_session_expires_at", table_name="console_session")
    op.drop_table("console_session")
