"""Verify the audit chain straight from the database: stream rows in seq order into ``chain.verify_chain``.

Reads the head first and checks only rows up to it, so appends going on meanwhile neither
disturb nor slow the check. Rows come in keyset batches (``seq > last``), never all at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select

from hub.audit import chain
from hub.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from onedoor.errors import ValidationFailed

BATCH = 5000
"""Rows per read: big enough that each query is cheap per row, small enough for little memory."""

_EVENT = cast(Table, AuditEvent.__table__)
_CHECKPOINT = cast(Table, AuditCheckpoint.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
_READ = select(
    _EVENT.c.id, _EVENT.c.seq, _EVENT.c.prev_hash, _EVENT.c.row_hash, *(_EVENT.c[n] for n in chain.HASHED_FIELDS)
)


def read_head(connection: Connection) -> chain.ChainHead | None:
    """What the head table says (``None`` when there is no head row)."""
    found = connection.execute(select(_HEAD.c.seq, _HEAD.c.row_hash).where(_HEAD.c.id == 1)).first()
    return None if found is None else chain.ChainHead(seq=int(found.seq), row_hash=str(found.row_hash))


def read_checkpoints(connection: Connection, up_to: int) -> list[chain.Checkpoint]:
    """Every checkpoint at or before ``up_to``, in seq order."""
    stmt = select(_CHECKPOINT).where(_CHECKPOINT.c.seq <= up_to).order_by(_CHECKPOINT.c.seq)
    return [
        chain.Checkpoint(
            seq=int(r.seq), row_hash=r.row_hash, at=chain.utc(r.at), key_id=r.key_id, signature=r.signature
        )
        for r in connection.execute(stmt)
    ]


def stream_rows(connection: Connection, up_to: int, batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Rows with ``seq <= up_to`` in seq order, ``batch`` at a time."""
    last = -1
    while True:
        stmt = _READ.where(_EVENT.c.seq > last, _EVENT.c.seq <= up_to).order_by(_EVENT.c.seq).limit(batch)
        rows = connection.execute(stmt).mappings().all()
        if not rows:
            return
        yield from rows  # type: ignore[misc]  # RowMapping is a Mapping[str, Any]
        last = int(rows[-1]["seq"])


def parse_anchor(line: str) -> chain.Checkpoint:
    """A checkpoint from one JSON line as ``onedoor audit checkpoint`` prints it.

    Raises:
        ValidationFailed: ``audit.anchor_invalid`` if the line is not such a checkpoint.
    """
    try:
        data = json.loads(line)
        return chain.Checkpoint(
            seq=int(data["seq"]),
            row_hash=str(data["row_hash"]),
            at=chain.utc(datetime.fromisoformat(str(data["at"]))),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
        )
    except (ValueError, KeyError, TypeError):
        raise ValidationFailed(
            "audit.anchor_invalid", "not a checkpoint line from `onedoor audit checkpoint`"
        ) from None


@dataclass(frozen=True, slots=True)
class Verification:
    """A finished verification: the report, when it ran and how long it took."""

    report: chain.ChainReport
    head: chain.ChainHead | None
    at: datetime
    seconds: float
    signatures_checked: bool


def verify_database(
    connection: Connection,
    signature_ok: chain.SignatureCheck | None,
    *,
    batch: int = BATCH,
    anchors: Sequence[chain.Checkpoint] = (),
) -> Verification:
    """Verify the whole chain as stored, up to the head read at the start.

    ``anchors`` are checkpoints kept outside the database (``onedoor audit checkpoint`` lines):
    checked like stored ones, so deleting or re-signing the stored ones does not hide a rewrite.
    """
    started, at = time.perf_counter(), datetime.now(UTC)
    head = read_head(connection)
    up_to = head.seq if head is not None else 2**62
    report = chain.verify_chain(
        stream_rows(connection, up_to, batch),
        [*read_checkpoints(connection, up_to), *anchors],
        signature_ok=signature_ok,
        head=head,
    )
    return Verification(
        report=report,
        head=head,
        at=at,
        seconds=time.perf_counter() - started,
        signatures_checked=signature_ok is not None,
    )
