"""Connector health: each agency connector's latest heartbeat (metadata only).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 11:00:00

Written by hand to match the models; ``tests/integration/test_migrations.py``
compares it with the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connector_heartbeat",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connector_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock_skew_ms", sa.Integer(), nullable=False),
        sa.Column("rtt_ms", sa.Integer(), nullable=True),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("signing_key_id", sa.String(length=35), nullable=False),
        sa.Column("encryption_key_id", sa.String(length=35), nullable=False),
        sa.Column("outbox_pending", sa.Integer(), nullable=True),
        sa.Column("parked", sa.Integer(), nullable=True),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("beats", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_connector_heartbeat_agency_id_agency")),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_connector_heartbeat")),
    )


def downgrade() -> None:
    op.drop_table("connector_heartbeat")
