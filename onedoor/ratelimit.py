"""One per-key sliding-window rate limiter, in memory and thread-safe.

Used by the hub's public form (at most N posts per address a minute) and by the workbench's
sign-in (at most N failed attempts per username and per address in 15 minutes). Two ways to
use it:

* ``allow(key)`` checks and counts in one step: the usual "N events per window" limit (an
  attempt over the limit is not counted).
* ``allowed(*keys)`` only checks, ``record(*keys)`` only counts and ``reset(key)`` forgets:
  for limits on failures, where the outcome is known after the check.

Times are seconds from ``clock`` (``time.monotonic`` unless given) or an explicit ``now``.
Memory is bounded: past ``max_keys`` keys, keys with no event inside the window are dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    """At most ``limit`` events per key in any sliding ``window_s`` seconds."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] | None = None,
        max_keys: int = 100_000,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock: Callable[[], float] = clock or time.monotonic
        self._max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _at(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _recent(self, key: str, now: float) -> deque[float]:
        """The key's events still inside the window (older ones dropped). Caller holds the lock."""
        found = self._events.get(key)
        if found is None:
            if len(self._events) >= self._max_keys:
                self._prune(now)
            found = self._events.setdefault(key, deque())
        cutoff = now - self.window_s
        while found and found[0] <= cutoff:
            found.popleft()
        return found

    def _prune(self, now: float) -> None:
        cutoff = now - self.window_s
        self._events = {k: v for k, v in self._events.items() if v and v[-1] > cutoff}

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count an event for ``key``; ``False`` (and not counted) when it would be over the limit."""
        with self._lock:
            at = self._at(now)
            events = self._recent(key, at)
            if len(events) >= self.limit:
                return False
            events.append(at)
            return True

    def allowed(self, *keys: str, now: float | None = None) -> bool:
        """Whether one more event is within the limit for every key (nothing is counted)."""
        with self._lock:
            at = self._at(now)
            return all(len(self._recent(k, at)) < self.limit for k in keys)

    def record(self, *keys: str, now: float | None = None) -> None:
        """Count an event against every key, whatever the limit says."""
        with self._lock:
            at = self._at(now)
            for key in keys:
                self._recent(key, at).append(at)

    def reset(self, key: str) -> None:
        """Forget every event of ``key`` (e.g. failures after a good sign-in)."""
        with self._lock:
            self._events.pop(key, None)

    def count(self, key: str, now: float | None = None) -> int:
        """How many events ``key`` has inside the window now."""
        with self._lock:
            return len(self._recent(key, self._at(now)))
