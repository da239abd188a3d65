"""One background job run every few seconds for as long as a block lasts (the API's housekeeping).

A tick that fails is logged with its stable code, or its exception type only (never its message,
which could hold data), and tried again at the next tick: a housekeeping job never stops the
process, and it stops with the block.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from onedoor.errors import OneDoorError
from onedoor.logging import get_logger

log = get_logger(__name__)

_SHORTEST_PAUSE_S = 0.05


@asynccontextmanager
async def every(
    name: str, seconds: float, tick: Callable[[], Awaitable[object]], *, failed: str
) -> AsyncIterator[None]:
    """Run ``tick`` now and then every ``seconds`` (start to start) until the block ends.

    Args:
        name: the task's name (shown by asyncio debugging and in task dumps).
        seconds: the interval between the starts of two ticks.
        tick: the job; what it returns is ignored.
        failed: the log event of a failed tick, e.g. ``broker.reconcile_failed``.
    """

    async def loop() -> None:
        while True:
            started = time.monotonic()
            try:
                await tick()
            except OneDoorError as exc:
                log.warning(failed, code=exc.code)
            except Exception as exc:  # noqa: BLE001 - try again at the next tick
                log.warning(failed, error=type(exc).__name__)
            await asyncio.sleep(max(_SHORTEST_PAUSE_S, seconds - (time.monotonic() - started)))

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
