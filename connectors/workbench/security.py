"""Sign-in sessions, CSRF tokens and sign-in rate limits for the workbench.

A session cookie holds a random id and its HMAC under the workbench secret; the store keeps
only the id's SHA-256, the user, a per-session CSRF token and two times: a session ends after
``idle`` without use or ``absolute`` after sign-in, whichever is first. Before sign-in, the
form's CSRF token is a signed nonce bound to a cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from connectors.workbench.store import SignedIn, WorkbenchStore, now_ms
from onedoor.envelope.keys import create_private_file


def load_or_create_secret(path: Path) -> bytes:
    """The workbench's signing secret (32 random bytes in a 0600 file, made on first use)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    try:
        create_private_file(path, secret)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    return secret


@dataclass(frozen=True, slots=True)
class Session:
    """A live session, as a request sees it."""

    id_hash: str
    username: str
    csrf: str


class Sessions:
    """Issue, check and end sessions; make and check pre-sign-in CSRF tokens."""

    def __init__(self, store: WorkbenchStore, secret: bytes, *, idle_s: float, absolute_s: float) -> None:
        self._store = store
        self._secret = secret
        self.idle_s = idle_s
        self.absolute_s = absolute_s

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def start(self, username: str) -> tuple[str, Session]:
        """A new session for ``username``: the cookie value and the session."""
        sid = secrets.token_urlsafe(32)
        id_hash = hashlib.sha256(sid.encode()).hexdigest()
        csrf = secrets.token_urlsafe(32)
        self._store.add_session(id_hash, username, csrf, now_ms())
        return f"{sid}.{self._sign(sid)}", Session(id_hash, username, csrf)

    def resolve(self, cookie: str | None) -> Session | None:
        """The live session the cookie names (its last use updated), or ``None``."""
        if not cookie or "." not in cookie:
            return None
        sid, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(sid)):
            return None
        id_hash = hashlib.sha256(sid.encode()).hexdigest()
        found = self._store.session(id_hash)
        if found is None:
            return None
        at = now_ms()
        if self._expired(found, at):
            self._store.end_session(id_hash)
            return None
        self._store.touch_session(id_hash, at)
        return Session(id_hash, found.username, found.csrf)

    def _expired(self, found: SignedIn, at_ms: int) -> bool:
        return at_ms - found.last_seen_ms > self.idle_s * 1000 or at_ms - found.created_at_ms > self.absolute_s * 1000

    def end(self, session: Session) -> None:
        """Sign out."""
        self._store.end_session(session.id_hash)

    def presession_token(self) -> tuple[str, str]:
        """A fresh ``(cookie value, form token)`` pair for the sign-in form."""
        nonce = secrets.token_urlsafe(24)
        return nonce, self._sign("signin:" + nonce)

    def presession_ok(self, cookie: str | None, token: str | None) -> bool:
        """Whether the sign-in form's token matches its cookie."""
        if not cookie or not token:
            return False
        return hmac.compare_digest(token, self._sign("signin:" + cookie))


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time CSRF check."""
    return bool(given) and hmac.compare_digest(str(given), expected)


class SignInLimiter:
    """At most ``attempts`` failed sign-ins per key (username, client address) in ``window_s``."""

    def __init__(self, attempts: int = 5, window_s: float = 900.0, *, clock: Callable[[], float] | None = None) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._now: Callable[[], float] = clock or time.monotonic

    def _recent(self, key: str) -> deque[float]:
        found = self._failures.setdefault(key, deque())
        cutoff = self._now() - self.window_s
        while found and found[0] < cutoff:
            found.popleft()
        return found

    def allowed(self, *keys: str) -> bool:
        """Whether another attempt may be made for every key."""
        return all(len(self._recent(k)) < self.attempts for k in keys)

    def failed(self, *keys: str) -> None:
        """Count a failed attempt against every key."""
        for key in keys:
            self._recent(key).append(self._now())
        if len(self._failures) > 10_000:  # bounded memory under a spray of usernames
            self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (the username) after a good sign-in."""
        self._failures.pop(key, None)


def secret_path_default(data_dir: Path) -> Path:
    """Where the secret lives unless configured."""
    return data_dir / "workbench.secret"
