"""The audit hash chain, pure: canonical encoding, row hashes, checkpoint payloads, verification.

Every ``audit_event`` row has a ``seq`` (its position, 1, 2, 3 ... with no gaps), the
``prev_hash`` of the row before it (``GENESIS`` for seq 1) and its own ``row_hash``:

    row_hash = hex(SHA-256(canonical(seq, prev_hash, row)))
    canonical = compact JSON array, ASCII only, of
        ["onedoor.audit/1", seq, prev_hash, <every field of HASHED_FIELDS, in that order>]

with ``null`` for a missing value, integers as JSON integers, strings as JSON strings and
datetimes as integer microseconds since 1970-01-01T00:00:00Z (a naive datetime is UTC). Anyone
can recompute it from the rows alone, in any language.

A checkpoint signs ``CHECKPOINT_DOMAIN || seq || row_hash || at || key_id`` (``checkpoint_payload``)
with the hub's Ed25519 audit key. Nothing here touches a database, a file or a clock:
``verify_chain`` takes rows and checkpoints as iterables and returns a ``ChainReport``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

ENCODING_VERSION: Final = "onedoor.audit/1"
"""The first element of every canonical encoding; a new encoding gets a new version."""
GENESIS: Final = "0" * 64
"""The ``prev_hash`` of the first row."""
CHECKPOINT_DOMAIN: Final = b"onedoor.audit.checkpoint/1\n"
"""Prefix of every signed checkpoint payload, so the signature means nothing elsewhere."""

HASHED_FIELDS: Final = (
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
"""Every audit_event column except id, seq, prev_hash and row_hash, in hashing order (a test
checks this against the table: a new column must be added here, with a new ENCODING_VERSION)."""
DATETIME_FIELDS: Final = frozenset({"at", "expires_at"})
INTEGER_FIELDS: Final = frozenset({"contract_version", "agreement_version", "latency_ms"})

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_DT_INDEXES: Final = tuple(i for i, name in enumerate(HASHED_FIELDS) if name in DATETIME_FIELDS)
_INT_INDEXES: Final = tuple(i for i, name in enumerate(HASHED_FIELDS) if name in INTEGER_FIELDS)
_STR_INDEXES: Final = tuple(
    i for i, name in enumerate(HASHED_FIELDS) if name not in DATETIME_FIELDS and name not in INTEGER_FIELDS
)


def _refuse(value: object) -> object:
    raise TypeError(f"not encodable in an audit row: {type(value).__name__}")


def _json_encoder() -> Callable[[list[Any]], str]:
    # The C encoder made once: json.dumps makes a new one per call, a third of the cost here.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the accelerator
        return json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), check_circular=False, default=_refuse).encode
    encoder = make(None, _refuse, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda values: "".join(encoder(values, 0))


_encode: Final = _json_encoder()

# Stable codes of what verification finds.
ROW_ALTERED: Final = "audit.row_altered"
LINK_BROKEN: Final = "audit.link_broken"
RECORD_MISSING: Final = "audit.record_missing"
CHECKPOINT_MISMATCH: Final = "audit.checkpoint_mismatch"
CHECKPOINT_BAD_SIGNATURE: Final = "audit.checkpoint_bad_signature"
HEAD_MISMATCH: Final = "audit.head_mismatch"


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def micros(value: datetime | None) -> int | None:
    """Microseconds since the epoch of ``value`` (naive means UTC), or ``None``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def normalise(values: list[Any]) -> list[Any]:
    """Coerce the values of HASHED_FIELDS (in order, in place) to their column's type.

    Datetimes become aware UTC, integer fields ``int`` and text fields ``str``, so the value
    stored and the value hashed are the same whatever type a caller passed.
    """
    for i in _DT_INDEXES:
        value = values[i]
        if value is not None:
            values[i] = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    for i in _INT_INDEXES:
        value = values[i]
        if value is not None and type(value) is not int:
            values[i] = int(value)
    for i in _STR_INDEXES:
        value = values[i]
        if value is not None and type(value) is not str:
            values[i] = str(value)
    return values


def canonical(seq: int, prev_hash: str, values: Sequence[Any]) -> bytes:
    """The bytes hashed for one row: ``values`` are HASHED_FIELDS in order, already normalised."""
    encoded = [ENCODING_VERSION, seq, prev_hash, *values]
    for i in _DT_INDEXES:
        encoded[i + 3] = micros(encoded[i + 3])
    return _encode(encoded).encode("ascii")


def hash_values(seq: int, prev_hash: str, values: Sequence[Any]) -> str:
    """The row hash of normalised HASHED_FIELDS ``values`` at ``seq`` after ``prev_hash``."""
    return hashlib.sha256(canonical(seq, prev_hash, values)).hexdigest()


def row_hash(seq: int, prev_hash: str, row: Mapping[str, Any]) -> str:
    """The row hash of ``row`` (column name to value; absent columns are null)."""
    return hash_values(seq, prev_hash, normalise([row.get(name) for name in HASHED_FIELDS]))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the chain had ``row_hash`` at ``seq`` at time ``at``."""

    seq: int
    row_hash: str
    at: datetime
    key_id: str
    """The audit key's id (``k1_`` + 32 hex chars of SHA-256 over its raw public key)."""
    signature: str
    """Hex Ed25519 signature over ``checkpoint_payload``."""


def checkpoint_payload(seq: int, row_hash: str, at: datetime, key_id: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return CHECKPOINT_DOMAIN + f"{seq}\n{row_hash}\n{micros(at)}\n{key_id}".encode("ascii")


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong with the chain."""

    code: str
    seq: int | None
    """The position of the broken record (or of the checkpoint), when there is one."""
    id: int | None
    """The broken row's database id, when the row exists."""
    message: str


@dataclass(frozen=True, slots=True)
class ChainHead:
    """What the head table says the last row is."""

    seq: int
    row_hash: str


@dataclass(slots=True)
class ChainReport:
    """What verification found: counts, where the chain starts and ends, and the first problem."""

    rows: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    checkpoints: int = 0
    """Checkpoints whose signature and hash were both checked against a row."""
    unanchored_checkpoints: int = 0
    """Checkpoints before the first remaining row (purged): signature checked, hash not."""
    last_checkpoint_seq: int | None = None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return self.problem is None

    @property
    def purged(self) -> bool:
        """The oldest rows are gone: the chain starts after seq 1."""
        return self.first_seq is not None and self.first_seq > 1


SignatureCheck = Callable[[Checkpoint], bool]
"""True if a checkpoint's signature is good under a trusted key."""


def _row_values(row: Mapping[str, Any]) -> list[Any]:
    return normalise([row.get(name) for name in HASHED_FIELDS])


def verify_chain(  # noqa: PLR0911, PLR0912 - one pass, one check per branch, in order
    rows: Iterable[Mapping[str, Any]],
    checkpoints: Iterable[Checkpoint] = (),
    *,
    signature_ok: SignatureCheck | None = None,
    head: ChainHead | None = None,
) -> ChainReport:
    """Recompute the chain over ``rows`` (in seq order) and stop at the first problem.

    Each row maps column names to values and carries ``id``, ``seq``, ``prev_hash`` and
    ``row_hash``. The first row may come after seq 1 (the oldest rows were purged): its
    ``prev_hash`` is then taken as given, and a checkpoint right before it must match it.
    Every checkpoint's signature is checked with ``signature_ok`` (when given) and, if its seq
    is among the rows, its hash against the chain. ``head`` (the head table) must name the
    last row: rows missing at the end are found that way.
    """
    report = ChainReport()
    pending = sorted(checkpoints, key=lambda c: c.seq)
    position = 0  # next checkpoint in ``pending``
    expected_prev: str | None = None
    previous_seq: int | None = None

    def fail(code: str, seq: int | None, row_id: int | None, message: str) -> ChainReport:
        report.problem = Problem(code, seq, row_id, message)
        return report

    def signed(checkpoint: Checkpoint) -> bool:
        return signature_ok is None or signature_ok(checkpoint)

    for row in rows:
        seq, row_id = int(row["seq"]), row.get("id")
        prev_hash, stored_hash = row["prev_hash"], row["row_hash"]
        if previous_seq is None:
            report.first_seq = seq
            if seq > 1:
                report.notes.append(f"the chain starts at seq {seq}: rows 1 to {seq - 1} are not in the database")
            # Checkpoints before the first remaining row: signature only (their rows are gone).
            while position < len(pending) and pending[position].seq < seq:
                checkpoint = pending[position]
                position += 1
                if not signed(checkpoint):
                    return fail(
                        CHECKPOINT_BAD_SIGNATURE,
                        checkpoint.seq,
                        None,
                        f"checkpoint at seq {checkpoint.seq}: bad signature",
                    )
                report.unanchored_checkpoints += 1
                report.last_checkpoint_seq = checkpoint.seq
                if checkpoint.seq == seq - 1 and checkpoint.row_hash != prev_hash:
                    return fail(
                        LINK_BROKEN,
                        seq,
                        row_id,
                        f"record seq {seq} (id {row_id}) does not follow the checkpoint at seq {checkpoint.seq}",
                    )
            expected_prev = GENESIS if seq == 1 else prev_hash
        elif seq != previous_seq + 1:
            gap = f"seq {previous_seq + 1}" if seq == previous_seq + 2 else f"seq {previous_seq + 1} to {seq - 1}"
            return fail(
                RECORD_MISSING,
                previous_seq + 1,
                None,
                f"{gap} missing: the chain jumps from seq {previous_seq} to seq {seq} (id {row_id})",
            )
        if prev_hash != expected_prev:
            return fail(
                LINK_BROKEN, seq, row_id, f"record seq {seq} (id {row_id}): prev_hash is not the previous row's hash"
            )
        if hash_values(seq, prev_hash, _row_values(row)) != stored_hash:
            return fail(ROW_ALTERED, seq, row_id, f"record seq {seq} (id {row_id}): contents do not match its hash")
        while position < len(pending) and pending[position].seq == seq:
            checkpoint = pending[position]
            position += 1
            if not signed(checkpoint):
                return fail(CHECKPOINT_BAD_SIGNATURE, seq, row_id, f"checkpoint at seq {seq}: bad signature")
            if checkpoint.row_hash != stored_hash:
                return fail(
                    CHECKPOINT_MISMATCH,
                    seq,
                    row_id,
                    f"record seq {seq} (id {row_id}): the chain differs from the checkpoint signed at this seq",
                )
            report.checkpoints += 1
            report.last_checkpoint_seq = seq
        expected_prev, previous_seq = stored_hash, seq
        report.rows += 1
        report.last_seq, report.last_hash = seq, stored_hash

    if position < len(pending):
        checkpoint = pending[position]
        if report.last_seq is None and not signed(checkpoint):
            return fail(
                CHECKPOINT_BAD_SIGNATURE, checkpoint.seq, None, f"checkpoint at seq {checkpoint.seq}: bad signature"
            )
        after = "no rows" if report.last_seq is None else f"the last row is seq {report.last_seq}"
        return fail(
            RECORD_MISSING,
            checkpoint.seq,
            None,
            f"a checkpoint was signed at seq {checkpoint.seq} but {after}: records are missing",
        )
    if head is not None and head.seq > 0:
        if report.last_seq is None or report.last_seq < head.seq:
            first_missing = 1 if report.last_seq is None else report.last_seq + 1
            return fail(
                RECORD_MISSING,
                first_missing,
                None,
                f"the chain head is at seq {head.seq} but the rows end at seq {report.last_seq or 0}",
            )
        if report.last_seq == head.seq and report.last_hash != head.row_hash:
            return fail(HEAD_MISMATCH, head.seq, None, f"the chain head's hash differs from record seq {head.seq}")
    return report
