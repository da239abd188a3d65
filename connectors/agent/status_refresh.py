"""Keep a running connector's status index fresh: re-read its status records and swap in a new index.

A status check is answered from the ``StatusIndex`` the ``StatusResponder`` holds. The records
behind it change while the connector runs (the council records today that a child is a victim
of exploitation; the records file is replaced), so ``StatusRefresh.run`` reads them again every
``status_refresh_seconds``: the records file (or the records the process was given) and every
adapter's ``status_records()`` (the SQL adapter queries the agency's database). Reading, the
digest and the index build (~45 keyed tokens per person: CPU work) run in a worker thread, off
the event loop; the new index is swapped into the responder in one step (``replace_index``), so
a check being answered keeps the index it started with. Nothing is rebuilt when the records'
digest (SHA-256 over each record's canonical JSON, kept in memory only) is unchanged.

A failed refresh (the database is down, a bad records file) keeps the old index, logs
``status.refresh_failed`` with the error's type and code only (never a value: a message may quote
a row), and ``problems`` holds ``status.refresh_failed`` until the next refresh succeeds; the next
interval tries again. A refresh that swapped logs ``status.index_refreshed`` with counts only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from connectors.adapters.registry import Adapters
from connectors.agent.supervise import Supervised
from connectors.identity import MatchingKey
from connectors.status.index import StatusIndex, StatusRecord, given_or_read
from connectors.status.responder import StatusResponder
from onedoor.errors import OneDoorError
from onedoor.logging import get_logger

log = get_logger(__name__)

REFRESH_FAILED: Final = "status.refresh_failed"
INDEX_REFRESHED: Final = "status.index_refreshed"

ReadRecords = Callable[[], list[StatusRecord]]
"""Reads every status record now (blocking I/O: called in a worker thread)."""


class StatusSource:
    """Where the status records come from: fixed ``records`` or the records file, plus the adapters'."""

    def __init__(
        self,
        *,
        records: Sequence[StatusRecord] | None = None,
        records_path: Path | None = None,
        adapter_records: Callable[[], list[StatusRecord]] | None = None,
    ) -> None:
        """Read ``records`` (given at start) if set, else ``records_path``; then ``adapter_records()``."""
        self._records = None if records is None else tuple(records)
        self._path = records_path
        self._adapter_records = adapter_records

    def __call__(self) -> list[StatusRecord]:
        """Every record now.

        Raises:
            ValidationFailed: ``status.invalid_records`` (or an identity code) for a bad records file.
            Unavailable: what an adapter raises when its system cannot be read (``adapter.sql.unavailable``).
        """
        base = given_or_read(self._records, self._path)
        if self._adapter_records is not None:
            base.extend(self._adapter_records())
        return base


def digest(records: Iterable[StatusRecord]) -> str:
    """A SHA-256 over the records, whatever their order (for "did anything change?"; never logged)."""
    lines = sorted(json.dumps(record.to_json(), sort_keys=True, separators=(",", ":")) for record in records)
    hashed = hashlib.sha256()
    for line in lines:
        hashed.update(line.encode())
        hashed.update(b"\n")
    return hashed.hexdigest()


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What one refresh did."""

    changed: bool
    """Whether a new index was swapped in."""
    records: int
    """How many records the index now holds."""


class StatusRefresh:
    """Re-reads the status records every ``every_s`` seconds and swaps a rebuilt index into the responder."""

    def __init__(
        self,
        responder: StatusResponder,
        key: MatchingKey,
        read: ReadRecords,
        *,
        every_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Refresh ``responder``'s index from ``read()`` under the federation matching ``key``."""
        self._responder = responder
        self._key = key
        self._read = read
        self.every_s = every_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._digest: tuple[StatusIndex, str] | None = None
        self.failed: str | None = None
        """The error type of the last refresh if it failed, else ``None``."""
        self.refreshes = 0
        """Refreshes that read the records (changed or not)."""
        self.rebuilds = 0
        """Refreshes that built and swapped in a new index."""

    @property
    def problems(self) -> list[str]:
        """``status.refresh_failed`` from a failed refresh until one succeeds; else ``[]``."""
        return [] if self.failed is None else [REFRESH_FAILED]

    async def refresh_now(self) -> Refreshed | None:
        """Refresh once (never two at a time); ``None`` (logged, a problem until the next success) if it failed."""
        async with self._lock:
            started = self._clock()
            current = self._responder.index
            known = self._digest[1] if self._digest is not None and self._digest[0] is current else None
            try:
                built = await asyncio.to_thread(self._rebuild, current, known)
            except Exception as exc:  # noqa: BLE001 - the old index stays; the next interval tries again
                self.failed = type(exc).__name__
                code = exc.code if isinstance(exc, OneDoorError) else None
                log.warning(REFRESH_FAILED, error=self.failed, code=code)
                return None
            self.failed = None
            self.refreshes += 1
            index, seen = built
            if index is None:
                self._digest = (current, seen)
                return Refreshed(changed=False, records=len(current))
            self._responder.replace_index(index)
            self._digest = (index, seen)
            self.rebuilds += 1
            log.info(
                INDEX_REFRESHED,
                records=len(index),
                before=len(current),
                duration_ms=round((self._clock() - started) * 1000, 1),
            )
            return Refreshed(changed=True, records=len(index))

    def _rebuild(self, current: StatusIndex, known: str | None) -> tuple[StatusIndex | None, str]:
        # In a worker thread: blocking reads, hashing and the token derivation stay off the event loop.
        records = self._read()
        seen = digest(records)
        if (known if known is not None else digest(current.records)) == seen:
            return None, seen
        return StatusIndex.build(records, self._key), seen

    def supervised(self) -> Supervised:
        """``run`` under a supervisor (``connector.task_failed.status-refresh`` while it keeps failing)."""
        return Supervised("status-refresh", self.run, stable_s=2 * self.every_s)

    async def run(self) -> None:
        """Refresh every ``every_s`` seconds until cancelled (supervise it: ``connectors.agent.supervise``)."""
        while True:
            await asyncio.sleep(self.every_s)
            await self.refresh_now()


def status_refresh_of(
    responder: StatusResponder,
    key: MatchingKey,
    *,
    every_s: float,
    records: Sequence[StatusRecord] | None,
    records_path: Path | None,
    adapters: Adapters,
) -> StatusRefresh | None:
    """The running connector's refresh (``None`` when ``every_s`` is 0): what the index was built from at start."""
    if every_s <= 0:
        return None
    source = StatusSource(
        records=records,
        records_path=records_path,
        adapter_records=adapters.status_records if len(adapters) else None,
    )
    return StatusRefresh(responder, key, source, every_s=every_s)
