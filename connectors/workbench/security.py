"""Sign-in sessions, CSRF tokens and sign-in rate limits for the workbench.

A session cookie holds a random id and its HMAC under the workbench secret; the store keeps
only the id's SHA-256, the user, a per-session CSRF token and two times: a session ends after
``idle`` without use or ``absolute`` after sign-in, whichever is first. Before sign-in, the
form's CSRF token is a signed nonce bound to a cookie (double submit). Every comparison is of
bytes, so a cookie or form value with non-ASCII characters is simply wrong (never a 500).
Failed sign-ins are limited with ``onedoor.ratelimit.SlidingWindowLimiter`` (``sign_in_limiter``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from connectors.workbench.store import SignedIn, WorkbenchStore, now_ms
from onedoor.envelope.keys import create_private_file
from onedoor.websession import (
    SIGN_IN_WINDOW_S,
    PresessionTokens,
    new_csrf_token,
    new_session_id,
    same_text,
    same_token,
    session_id_hash,
    sign_in_limiter,
)

__all__ = ["SIGN_IN_WINDOW_S", "Session", "Sessions", "load_or_create_secret", "same_token", "sign_in_limiter"]


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
        self._presession = PresessionTokens(secret, "signin")

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def start(self, username: str) -> tuple[str, Session]:
        """A new session for ``username``: the cookie value and the session."""
        sid, id_hash = new_session_id()
        csrf = new_csrf_token()
        self._store.add_session(id_hash, username, csrf, now_ms())
        return f"{sid}.{self._sign(sid)}", Session(id_hash, username, csrf)

    def resolve(self, cookie: str | None) -> Session | None:
        """The live session the cookie names (its last use updated), or ``None``."""
        if not cookie or "." not in cookie:
            return None
        sid, _, signature = cookie.rpartition(".")
        if not same_text(signature, self._sign(sid)):
            return None
        id_hash = session_id_hash(sid)
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

    def fingerprint(self, address: str) -> str:
        """A keyed fingerprint of a client's address for the audit trail (16 hex characters, never the address)."""
        return self._sign("address:" + address)[:16]

    def presession_token(self) -> tuple[str, str]:
        """A fresh ``(cookie value, form token)`` pair for the sign-in form."""
        return self._presession.issue()

    def presession_ok(self, cookie: str | None, token: str | None) -> bool:
        """Whether the sign-in form's token matches its cookie."""
        return self._presession.check(cookie, token)


def secret_path_default(data_dir: Path) -> Path:
    """Where the secret lives unless configured."""
    return data_dir / "workbench.secret"
