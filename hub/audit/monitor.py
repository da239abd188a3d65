"""The API's audit chores: sign a checkpoint every so often, re-verify the chain in the background.

``ChainMonitor`` keeps the last verification; ``GET /audit/chain`` and the console page read
it and never verify themselves. A verification runs in a worker thread at start and then every
``ONEDOOR_API__AUDIT_VERIFY_SECONDS``; a checkpoint is signed every
``ONEDOOR_API__AUDIT_CHECKPOINT_SECONDS`` when the chain grew.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from hub.audit import checkpoints, verify
from onedoor.logging import get_logger
from onedoor.settings import Settings

log = get_logger(__name__)


class ChainMonitor:
    """Runs verifications one at a time and remembers the latest."""

    def __init__(self, factory: sessionmaker[Session], key: Ed25519PrivateKey) -> None:
        self._factory = factory
        self._key = key
        self._checker = checkpoints.SignatureChecker.of(key.public_key())
        self._lock = threading.Lock()
        self.latest: verify.Verification | None = None

    def verify_now(self) -> verify.Verification:
        """Verify the whole chain (blocking; one at a time) and remember the result."""
        with self._lock:
            engine = self._factory.kw["bind"]
            with engine.connect() as connection:
                result = verify.verify_database(connection, self._checker)
            self.latest = result
        problem = result.report.problem
        if problem is None:
            log.info("audit.chain_verified", rows=result.report.rows, last_seq=result.report.last_seq)
        else:
            log.error("audit.chain_broken", code=problem.code, seq=problem.seq, row_id=problem.id)
        return result

    def checkpoint_now(self) -> None:
        """Sign a checkpoint if the chain grew since the last one (blocking)."""
        checkpoints.write_checkpoint(self._factory, self._key)


async def _every(seconds: float, work: Callable[[], object], name: str) -> None:
    while True:
        try:
            await asyncio.to_thread(work)
        except Exception as exc:  # noqa: BLE001 - try again next time; the chain is not changed
            log.warning("audit.chore_failed", chore=name, error=type(exc).__name__)
        await asyncio.sleep(seconds)


@asynccontextmanager
async def running(app: FastAPI, settings: Settings, factory: sessionmaker[Session]) -> AsyncIterator[None]:
    """Start the checkpoint and verification loops for the API's lifespan (``app.state.audit_monitor``)."""
    key = checkpoints.load_or_create_key(checkpoints.audit_key_path(settings))
    monitor = ChainMonitor(factory, key)
    app.state.audit_monitor = monitor
    tasks = [
        asyncio.create_task(_every(settings.api.audit_checkpoint_seconds, monitor.checkpoint_now, "checkpoint")),
        asyncio.create_task(_every(settings.api.audit_verify_seconds, monitor.verify_now, "verify")),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
