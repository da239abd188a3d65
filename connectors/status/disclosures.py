"""The disclosure log: every time one of the agency's records was disclosed in a status check.

Kept by the answering connector, next to the records, so a subject access request can list
who was told what about a young person, when and why (``for_record``). It holds record
references, agency ids, purposes, times and message ids: never identifiers or tokens. A file
path keeps it in SQLite (one row per disclosure, written before the reply is sent); ``:memory:``
keeps it in memory for tests.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from onedoor.ids import AgencyId, MessageId, Purpose

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS disclosure (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_ref TEXT NOT NULL,
    requester TEXT NOT NULL,
    purpose TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    UNIQUE (record_ref, message_id)
);
CREATE INDEX IF NOT EXISTS disclosure_by_record ON disclosure (record_ref, at_ms);
"""


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One record disclosed once."""

    record_ref: str
    """The agency's own record reference."""
    requester: AgencyId
    """The agency told."""
    purpose: Purpose
    at: datetime
    """When the reply was made (UTC)."""
    message_id: MessageId
    """The status check answered (the reply's correlation id)."""


class DisclosureLog:
    """Append-only disclosures in SQLite. Use as a context manager, or ``close()``."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.executescript(_SCHEMA)

    def __enter__(self) -> DisclosureLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def record(
        self, record_ref: str, requester: AgencyId, purpose: Purpose, at: datetime, message_id: MessageId
    ) -> None:
        """Log one disclosure; a redelivered check (same record and message id) is logged once."""
        self._db.execute(
            "INSERT OR IGNORE INTO disclosure (record_ref, requester, purpose, at_ms, message_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (record_ref, str(requester), str(purpose), int(at.timestamp() * 1000), str(message_id)),
        )

    def for_record(self, record_ref: str) -> list[Disclosure]:
        """Every disclosure of one record, oldest first: for a subject access request."""
        rows = self._db.execute(
            "SELECT record_ref, requester, purpose, at_ms, message_id FROM disclosure"
            " WHERE record_ref = ? ORDER BY at_ms, id",
            (record_ref,),
        ).fetchall()
        return [
            Disclosure(ref, AgencyId(req), Purpose(purpose), datetime.fromtimestamp(at / 1000, tz=UTC), MessageId(mid))
            for ref, req, purpose, at, mid in rows
        ]

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM disclosure").fetchone()
        return int(count)
