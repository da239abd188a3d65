"""Keeping bots off a form anyone may post: a honeypot, a minimum fill time and a per-address rate limit.

Pure: the caller passes the clock. The rate limit is ``onedoor.ratelimit.SlidingWindowLimiter``
(one post per address counted per ``POST /refer``). None of these ever records what was typed. Only a filled-in honeypot
and a too-fast fill are treated as a bot (``pages.py`` answers them with a decoy confirmation);
a token that is missing, does not verify (forged, or signed under an earlier hub key) or is too
old gets the form back, asking to send it again.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

HONEYPOT_FIELD: Final = "website"
"""Hidden from people (visually hidden, out of the tab order, no autocomplete); bots fill it in."""
TIMER_FIELD: Final = "form-token"
MAX_TOKEN_CHARS: Final = 64


class FillCheck(StrEnum):
    """What the signed timestamp says about how the form was filled in."""

    OK = "ok"
    TOO_FAST = "too-fast"
    """Sent sooner than a person could: treated as a bot."""
    EXPIRED = "expired"
    """The page was open too long: ask to send again."""
    INVALID = "invalid"
    """No token, or one that does not verify: forged, or signed before the hub's key changed. Ask to send again."""


@dataclass(frozen=True, slots=True)
class FillTimer:
    """Signs the time a form was served (HMAC-SHA256) and checks it when the form comes back."""

    key: bytes

    def issue(self, now: float) -> str:
        """A token for a page served at ``now``: ``<ms>.<mac>``."""
        millis = str(int(now * 1000))
        return f"{millis}.{self._mac(millis)}"

    def check(self, token: str, now: float, *, min_seconds: float, max_seconds: float) -> FillCheck:
        """Whether a form carrying ``token`` was filled in like a person would.

        Any text is safe here: a token that is not short ASCII is ``INVALID``, never an error.
        """
        if len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return FillCheck.INVALID
        millis, _, mac = token.partition(".")
        if not millis.isdecimal() or len(millis) > 16:
            return FillCheck.INVALID
        if not hmac.compare_digest(mac.encode("ascii"), self._mac(millis).encode("ascii")):
            return FillCheck.INVALID
        age = now - int(millis) / 1000
        if age < min_seconds:
            return FillCheck.TOO_FAST
        if age > max_seconds:
            return FillCheck.EXPIRED
        return FillCheck.OK

    def _mac(self, millis: str) -> str:
        return hmac.new(self.key, b"onedoor/v1/intake-timer:" + millis.encode(), hashlib.sha256).hexdigest()[:32]
