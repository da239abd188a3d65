"""Audit rows for permitted dashboard reads, written in batches off the request path.

Every read of ``/ops/dashboard`` and every ``/ops/stream`` connect is an authorization decision,
and each is audited (``api.authz``, permit). A dashboard is polled by many viewers while the
router appends thousands of chained audit rows a second; one write transaction per poll would
queue behind the router's batches (on SQLite, behind its single write lock). So a permitted read
adds its row to this buffer and answers at once; the buffer is appended in one transaction every
``every_s`` and when the API stops. A refused request is still audited before it is answered
(``hub.auth.deps.require``). A crash can lose at most the last ``every_s`` of read permits,
never a write's audit row.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.orm import Session, sessionmaker

from hub.audit.service import AuditEntry, append_now
from onedoor.logging import get_logger

log = get_logger(__name__)

MAX_BUFFER = 100_000
"""Rows held at most if the database refuses writes for a while (then the oldest are logged as lost)."""


class ReadAudit:
    """A buffer of audit entries flushed in batches by a background task (``start``/``stop``)."""

    def __init__(self, factory: sessionmaker[Session], every_s: float = 0.5) -> None:
        self.factory = factory
        self.every_s = every_s
        self._pending: list[AuditEntry] = []
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def add(self, entry: AuditEntry) -> None:
        """Queue ``entry``; it is written within ``every_s``."""
        if len(self._pending) >= MAX_BUFFER:
            dropped = self._pending.pop(0)
            log.error("ops.read_audit_lost", kind=dropped.kind, outcome=dropped.outcome)
        self._pending.append(entry)

    async def flush(self) -> None:
        """Write every queued entry now, in one transaction; on failure keep them for the next try."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await asyncio.to_thread(append_now, self.factory, batch)
        except Exception as exc:  # noqa: BLE001 - kept and tried again at the next flush
            log.warning("ops.read_audit_failed", error=type(exc).__name__, rows=len(batch))
            self._pending[:0] = batch
            return
        self.written += len(batch)

    def start(self) -> None:
        """Flush every ``every_s`` in the background."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.every_s)
                await self.flush()

        self._task = asyncio.create_task(loop(), name="ops-read-audit")

    async def stop(self) -> None:
        """Stop the background task and write what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
