"""Dead letters: metadata of each dead-lettered envelope and its replays (helper E fills this in).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 11:00:00

Written by hand to match the models; ``tests/integration/test_migrations.py``
compares it with the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen copy of the enum's values: a migration never imports application code.
_REPLAY_STATES = ("none", "replayed", "refused")


def upgrade() -> None:
    op.create_table(
        "dead_letter",
        sa.Column("dl_partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dl_offset", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.Column("contract", sa.String(length=128), nullable=True),
        sa.Column("contract_version", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("reported_by", sa.String(length=64), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "replay_state",
            sa.Enum(
                *_REPLAY_STATES, name="dead_letter_replay_state", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replayed_by", sa.String(length=64), nullable=True),
        sa.Column("replay_outcome", sa.String(length=255), nullable=True),
        sa.Column("refused_reason", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("dl_partition", "dl_offset", name=op.f("pk_dead_letter")),
    )
    op.create_index("ix_dead_letter_message_id", "dead_letter", ["message_id"], unique=False)
    op.create_index("ix_dead_letter_rejected_at", "dead_letter", ["rejected_at"], unique=False)
    op.create_index("ix_dead_letter_reason_code", "dead_letter", ["reason_code"], unique=False)


def downgrade() -> None:
    op.drop_table("dead_letter")
