"""Tamper-evident audit: hash chain columns, the chain head, signed checkpoints, ``latency_ms``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 11:00:00

Written by hand to match the models; ``tests/integration/test_migrations.py``
compares it with the models on SQLite and PostgreSQL. Rows already in ``audit_event`` are
chained here, in id order, with a frozen copy of the v1 encoding (``hub.audit.chain``; a
test checks that the two agree), so the migration never depends on application code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GENESIS = "0" * 64
_FIELDS = (
    "at",
    "kind",
    "actor",
    "outcome",
    "reason_code",
    "message_id",
    "correlation_id",
    "contract",
    "contract_version",
    "recipients",
    "source",
    "expires_at",
    "agreement_id",
    "agreement_version",
    "purpose",
    "subject_token",
    "detail",
    "latency_ms",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BATCH = 2000


def _v1_hash(seq: int, prev_hash: str, row: Any) -> str:
    values: list[Any] = ["onedoor.audit/1", seq, prev_hash]
    for name in _FIELDS:
        value = getattr(row, name)
        if isinstance(value, datetime):
            aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            value = (aware - _EPOCH) // timedelta(microseconds=1)
        values.append(value)
    encoded = json.dumps(values, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return hashlib.sha256(encoded).hexdigest()


def _chain_existing_rows() -> tuple[int, str]:
    event = sa.table(
        "audit_event",
        sa.column("id", sa.BigInteger()),
        sa.column("seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String(64)),
        sa.column("row_hash", sa.String(64)),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
        sa.column("contract_version", sa.Integer()),
        sa.column("agreement_version", sa.Integer()),
        sa.column("latency_ms", sa.Integer()),
        *(sa.column(name, sa.Text()) for name in _FIELDS if name not in {"at", "expires_at"} and "version" not in name),
    )
    bind = op.get_bind()
    seq, prev, last_id = 0, _GENESIS, None
    while True:
        stmt = sa.select(event.c.id, *(event.c[name] for name in _FIELDS)).order_by(event.c.id).limit(_BATCH)
        if last_id is not None:
            stmt = stmt.where(event.c.id > last_id)
        rows = bind.execute(stmt).all()
        if not rows:
            return seq, prev
        updates = []
        for row in rows:
            seq += 1
            digest = _v1_hash(seq, prev, row)
            updates.append({"b_id": row.id, "seq": seq, "prev_hash": prev, "row_hash": digest})
            prev, last_id = digest, row.id
        bind.execute(
            event.update()
            .where(event.c.id == sa.bindparam("b_id"))
            .values(seq=sa.bindparam("seq"), prev_hash=sa.bindparam("prev_hash"), row_hash=sa.bindparam("row_hash")),
            updates,
        )


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("latency_ms", sa.Integer(), nullable=True))
    seq, row_hash = _chain_existing_rows()
    with op.batch_alter_table("audit_event") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_index("uq_audit_event_seq", ["seq"], unique=True)
        batch.create_index("ix_audit_event_subject_token", ["subject_token"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": seq, "row_hash": row_hash}])
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=35), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
    )
    op.create_index("ix_audit_checkpoint_seq", "audit_checkpoint", ["seq"], unique=False)


def downgrade() -> None:
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_index("ix_audit_event_subject_token")
        batch.drop_index("uq_audit_event_seq")
        batch.drop_column("latency_ms")
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
