"""Keep a connector's background loop running: log a crash, show it in the health problems, restart it.

A ``Supervised`` loop (the policy refresh, the status index refresh) is meant to run until the
connector stops. If it raises (or returns), the failure is logged as ``connector.task_failed``
with the loop's name and the exception's type only (never its message: it may quote a value),
``problems`` holds ``connector.task_failed.<name>`` (so ``/healthz`` answers 503), and the loop
is started again after a growing pause (0.5 s doubling up to 30 s, as the registry watch does).
The problem clears once the restarted loop has run ``stable_s`` seconds without failing.
Cancelling the task (the connector stopping) stops the loop and is never a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

from onedoor.errors import OneDoorError
from onedoor.logging import get_logger

log = get_logger(__name__)

TASK_FAILED: Final = "connector.task_failed"
RESTART_MIN_S: Final = 0.5
RESTART_MAX_S: Final = 30.0

Loop = Callable[[], Awaitable[None]]


class Supervised:
    """Runs ``loop()`` in a task, restarting it with backoff whenever it raises or returns."""

    def __init__(
        self,
        name: str,
        loop: Loop,
        *,
        stable_s: float = 60.0,
        restart_min_s: float = RESTART_MIN_S,
        restart_max_s: float = RESTART_MAX_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Supervise ``loop`` under ``name`` (in logs and the problem code: no personal data).

        Args:
            name: what the loop is, e.g. ``policy-refresh``.
            loop: makes a fresh run of the loop each time it is called.
            stable_s: how long a restarted loop must run without failing for its problem to clear.
            restart_min_s: the first pause before a restart; it doubles with each failure in a row.
            restart_max_s: the longest pause.
            clock: monotonic seconds (tests pin it).
        """
        self.name = name
        self._loop = loop
        self._stable_s = stable_s
        self._min_s = restart_min_s
        self._max_s = restart_max_s
        self._clock = clock
        self._failed_at: float | None = None
        self._started_at = 0.0
        self._running = False
        self.restarts = 0
        """Times the loop was started again after a failure."""
        self.task: asyncio.Task[None] | None = None

    @property
    def problem(self) -> str:
        """The health problem code while the loop is failing: ``connector.task_failed.<name>``."""
        return f"{TASK_FAILED}.{self.name}"

    @property
    def problems(self) -> list[str]:
        """``[problem]`` from a failure until the restarted loop has run ``stable_s`` seconds; else ``[]``."""
        if self.task is not None and self.task.done() and not self.task.cancelled():
            return [self.problem]  # the supervisor itself ended: nothing runs the loop any more
        if self._failed_at is None:
            return []
        recovered = self._running and self._clock() - self._started_at >= self._stable_s
        return [] if recovered else [self.problem]

    def start(self, task_name: str | None = None) -> asyncio.Task[None]:
        """Start supervising in a task (cancel it to stop the loop)."""
        self.task = asyncio.create_task(self._supervise(), name=task_name or f"connector-{self.name}")
        return self.task

    async def _supervise(self) -> None:
        failures = 0
        while True:
            self._started_at, self._running = self._clock(), True
            try:
                await self._loop()
            except Exception as exc:  # noqa: BLE001 - logged with its type and code, then restarted
                error, code = type(exc).__name__, exc.code if isinstance(exc, OneDoorError) else None
            else:
                error, code = "returned", None  # a loop meant to run for good stopped: restart it too
            now = self._clock()
            failures = 1 if now - self._started_at >= self._stable_s else failures + 1  # a long run resets the backoff
            self._failed_at, self._running = now, False
            pause = min(self._max_s, self._min_s * 2 ** (failures - 1))
            log.error(TASK_FAILED, task=self.name, error=error, code=code, restart_in_s=pause)
            await asyncio.sleep(pause)
            self.restarts += 1
