"""Professional network memberships (subject token -> agency) and case transfer offers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:00:00

Written by hand to match ``hub.network.models`` and ``hub.transfers.models``;
``tests/integration/test_migrations.py`` compares it with the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the enums' values: a migration never imports application code.
_ROLES = ("lead", "member")
_STATUSES = ("offered", "accepted", "withdrawn")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "network_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_token", sa.String(length=96), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("role", _enum(_ROLES, "network_role"), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_network_member_agency_id_agency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_member")),
    )
    op.create_index(op.f("ix_network_member_subject_token"), "network_member", ["subject_token"], unique=False)
    op.create_index(op.f("ix_network_member_agency_id"), "network_member", ["agency_id"], unique=False)
    op.create_index(
        "uq_network_member_open",
        "network_member",
        ["subject_token", "agency_id"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_index(
        "uq_network_member_open_lead",
        "network_member",
        ["subject_token"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL AND role = 'lead'"),
        postgresql_where=sa.text("closed_at IS NULL AND role = 'lead'"),
    )
    op.create_table(
        "transfer",
        sa.Column("transfer_id", sa.String(length=36), nullable=False),
        sa.Column("subject_token", sa.String(length=96), nullable=False),
        sa.Column("offered_by", sa.String(length=64), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("status", _enum(_STATUSES, "transfer_status"), nullable=False),
        sa.Column("accepted_by", sa.String(length=64), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'accepted') = (accepted_by IS NOT NULL AND accepted_at IS NOT NULL)",
            name=op.f("ck_transfer_accepted_iff_acceptor"),
        ),
        sa.ForeignKeyConstraint(["offered_by"], ["agency.id"], name=op.f("fk_transfer_offered_by_agency")),
        sa.ForeignKeyConstraint(["accepted_by"], ["agency.id"], name=op.f("fk_transfer_accepted_by_agency")),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_transfer")),
    )
    op.create_index(op.f("ix_transfer_subject_token"), "transfer", ["subject_token"], unique=False)


def downgrade() -> None:
    op.drop_table("transfer")
    op.drop_index("uq_network_member_open_lead", table_name="network_member")
    op.drop_index("uq_network_member_open", table_name="network_member")
    op.drop_table("network_member")
