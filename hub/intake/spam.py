"""Keeping bots off a form anyone may post: a honeypot, a minimum fill time and a per-address rate limit.

Pure apart from the rate limiter's memory; the caller passes the clock. None of these ever
records what was typed.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

HONEYPOT_FIELD: Final = "website"
"""Hidden from people (visually hidden, out of the tab order, no autocomplete); bots fill it in."""
TIMER_FIELD: Final = "form-token"


class FillCheck(StrEnum):
    """What the signed timestamp says about how the form was filled in."""

    OK = "ok"
    TOO_FAST = "too-fast"
    """Sent sooner than a person could: treated as a bot."""
    EXPIRED = "expired"
    """The page was open too long (or the token is from before a key change): ask to send again."""
    INVALID = "invalid"
    """No token, or one the hub did not sign: treated as a bot."""


@dataclass(frozen=True, slots=True)
class FillTimer:
    """Signs the time a form was served (HMAC-SHA256) and checks it when the form comes back."""

    key: bytes

    def issue(self, now: float) -> str:
        """A token for a page served at ``now``: ``<ms>.<mac>``."""
        millis = str(int(now * 1000))
        return f"{millis}.{self._mac(millis)}"

    def check(self, token: str, now: float, *, min_seconds: float, max_seconds: float) -> FillCheck:
        """Whether a form carrying ``token`` was filled in like a person would."""
        millis, _, mac = token.partition(".")
        if not millis.isdecimal() or len(millis) > 16 or not hmac.compare_digest(mac, self._mac(millis)):
            return FillCheck.INVALID
        age = now - int(millis) / 1000
        if age < min_seconds:
            return FillCheck.TOO_FAST
        if age > max_seconds:
            return FillCheck.EXPIRED
        return FillCheck.OK

    def _mac(self, millis: str) -> str:
        return hmac.new(self.key, b"onedoor/v1/intake-timer:" + millis.encode(), hashlib.sha256).hexdigest()[:32]


class RateLimiter:
    """At most ``per_minute`` events per client in any sliding 60 seconds; in memory, thread-safe."""

    def __init__(self, per_minute: int, *, max_clients: int = 100_000) -> None:
        self._per_minute = per_minute
        self._max_clients = max_clients
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float) -> bool:
        """Record an attempt by ``client``; ``False`` when it is over the limit (the attempt is not counted)."""
        with self._lock:
            if len(self._seen) >= self._max_clients:
                self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - 60}
            times = self._seen.setdefault(client, deque())
            while times and times[0] <= now - 60:
                times.popleft()
            if len(times) >= self._per_minute:
                return False
            times.append(now)
            return True
