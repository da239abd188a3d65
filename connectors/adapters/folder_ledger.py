"""The folder adapter's memory of what it sent: files by content hash, rows by number.

A small SQLite file under the connector's data directory (WAL, synchronous FULL: a row marked
sent survives a power cut). A file goes ``sending`` -> ``reported`` (reports written) ->
``moved`` (in ``done/``); a restart picks a file up where it stopped, skipping the rows
already sent. Only hashes and row numbers are kept: never a file name (staff may name a file
after a child) or a cell.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Final

SENDING: Final = "sending"
REPORTED: Final = "reported"
MOVED: Final = "moved"


class FolderLedger:
    """Which files (by SHA-256) and rows were sent."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files (hash TEXT PRIMARY KEY, state TEXT NOT NULL, at REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rows (hash TEXT NOT NULL, row INTEGER NOT NULL, at REAL NOT NULL, "
            "PRIMARY KEY (hash, row))"
        )

    def state(self, digest: str) -> str | None:
        """Where the file with this hash got to, or ``None`` if never seen."""
        row = self._db.execute("SELECT state FROM files WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, digest: str, state: str) -> None:
        """Record how far the file got."""
        self._db.execute(
            "INSERT INTO files (hash, state, at) VALUES (?, ?, ?) "
            "ON CONFLICT (hash) DO UPDATE SET state = excluded.state, at = excluded.at",
            (digest, state, time.time()),
        )

    def sent_rows(self, digest: str) -> set[int]:
        """Rows of the file already sent."""
        return {int(r[0]) for r in self._db.execute("SELECT row FROM rows WHERE hash = ?", (digest,))}

    def mark_sent(self, digest: str, row: int) -> None:
        """Record that a row is in the outbox."""
        self._db.execute("INSERT OR IGNORE INTO rows (hash, row, at) VALUES (?, ?, ?)", (digest, row, time.time()))

    def close(self) -> None:
        """Close the file."""
        self._db.close()
