"""Browser-session primitives shared by OneDoor's signed-in pages (the workbench and the hub console).

A session id is 32 random bytes (URL-safe text) that only the browser's cookie holds; a store
keeps its SHA-256, so a copy of the store signs nobody in. Before sign-in, a form's CSRF token
is an HMAC of a nonce the browser holds in a cookie (double submit). Every comparison is
constant-time over bytes, so a cookie or form value with non-ASCII characters is simply wrong
(never a 500). Failed sign-ins are limited with ``onedoor.ratelimit.SlidingWindowLimiter``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Final

from onedoor.ratelimit import SlidingWindowLimiter

SIGN_IN_WINDOW_S: Final = 900.0
"""Failed sign-ins are counted over 15 minutes."""


def new_session_id() -> tuple[str, str]:
    """A fresh ``(session id for the cookie, its hash for the store)``."""
    sid = secrets.token_urlsafe(32)
    return sid, session_id_hash(sid)


def session_id_hash(sid: str) -> str:
    """The SHA-256 (hex) a store keeps instead of the session id."""
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


def new_csrf_token() -> str:
    """A fresh per-session CSRF token."""
    return secrets.token_urlsafe(32)


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of two texts, of any characters."""
    # compare_digest refuses non-ASCII str (TypeError); bytes of any text compare safely.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time CSRF check: ``given`` is present and equals ``expected``."""
    return bool(given) and same_text(str(given), expected)


class PresessionTokens:
    """Double-submit CSRF tokens for a sign-in form, keyed by a secret of the process."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._secret = secret
        self._purpose = purpose

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, f"{self._purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def issue(self) -> tuple[str, str]:
        """A fresh ``(cookie value, form token)`` pair for the sign-in form."""
        nonce = secrets.token_urlsafe(24)
        return nonce, self._sign(nonce)

    def check(self, cookie: str | None, token: str | None) -> bool:
        """Whether the form's token matches its cookie."""
        if not cookie or not token:
            return False
        return same_text(token, self._sign(cookie))


def sign_in_limiter(
    attempts: int = 5, window_s: float = SIGN_IN_WINDOW_S, *, clock: Callable[[], float] | None = None
) -> SlidingWindowLimiter:
    """At most ``attempts`` failed sign-ins per key (username, client address) in ``window_s``.

    Use ``allowed(*keys)`` before checking a credential, ``record(*keys)`` after a failure and
    ``reset(key)`` after a success.
    """
    return SlidingWindowLimiter(attempts, window_s, clock=clock, max_keys=10_000)
