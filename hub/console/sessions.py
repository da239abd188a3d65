"""Start, resolve and end console sessions (``console_session``); no HTTP here.

A session is made from a verified token's principal: it keeps the subject, roles and agency,
never the token. It ends at sign-out, after ``idle`` without use, or at ``expires_at`` (the
earlier of the token's expiry and sign-in plus the absolute lifetime), whichever is first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.console.models import ConsoleSession
from onedoor.ids import AgencyId
from onedoor.websession import new_csrf_token, new_session_id, session_id_hash

TOUCH_EVERY: Final = timedelta(seconds=15)
"""``last_used_at`` is written at most this often per session (a live page polls and streams)."""
MAX_SESSION_ID_CHARS: Final = 128


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long a session may live."""

    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A session as a request sees it."""

    id_hash: str
    subject: str
    roles: frozenset[Role]
    agency: AgencyId | None
    csrf: str
    expires_at: datetime


def _live(row: ConsoleSession) -> LiveSession:
    return LiveSession(
        id_hash=row.id_hash,
        subject=row.subject,
        roles=frozenset(Role(r) for r in row.roles.split(",") if r in Role._value2member_map_),
        agency=AgencyId(row.agency) if row.agency else None,
        csrf=row.csrf,
        expires_at=row.expires_at,
    )


def start(session: Session, principal: Principal, now: datetime, lifetimes: Lifetimes) -> tuple[str, LiveSession]:
    """A new session for ``principal``: the cookie's session id and the session."""
    sid, id_hash = new_session_id()
    row = ConsoleSession(
        id_hash=id_hash,
        subject=principal.subject,
        roles=",".join(sorted(principal.roles)),
        agency=str(principal.agency) if principal.agency else None,
        csrf=new_csrf_token(),
        created_at=now,
        last_used_at=now,
        expires_at=min(principal.expires_at, now + lifetimes.absolute),
    )
    session.add(row)
    session.flush()
    return sid, _live(row)


def resolve(session: Session, sid: str | None, now: datetime, lifetimes: Lifetimes) -> LiveSession | None:
    """The live session ``sid`` names (its last use updated), or ``None``; an expired one is deleted."""
    if not sid or len(sid) > MAX_SESSION_ID_CHARS:
        return None
    row = session.get(ConsoleSession, session_id_hash(sid))
    if row is None:
        return None
    if now >= row.expires_at or now - row.last_used_at > lifetimes.idle:
        session.delete(row)
        return None
    if now - row.last_used_at >= TOUCH_EVERY:
        session.execute(update(ConsoleSession).where(ConsoleSession.id_hash == row.id_hash).values(last_used_at=now))
    return _live(row)


def end(session: Session, id_hash: str) -> None:
    """Sign out: forget the session."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == id_hash))


def purge_expired(session: Session, now: datetime, lifetimes: Lifetimes) -> int:
    """Delete every session past its end or idle too long; how many."""
    stale = (ConsoleSession.expires_at <= now) | (ConsoleSession.last_used_at < now - lifetimes.idle)
    result = session.execute(delete(ConsoleSession).where(stale))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session as an operator's listing shows it (never its id or CSRF token)."""

    subject: str
    roles: str
    agency: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime


def listing(session: Session, now: datetime, lifetimes: Lifetimes) -> list[SessionInfo]:
    """Every live session, oldest sign-in first."""
    live = (ConsoleSession.expires_at > now) & (ConsoleSession.last_used_at >= now - lifetimes.idle)
    rows = session.scalars(select(ConsoleSession).where(live).order_by(ConsoleSession.created_at))
    return [SessionInfo(r.subject, r.roles, r.agency, r.created_at, r.last_used_at, r.expires_at) for r in rows]


def end_all(session: Session, subject: str | None = None) -> int:
    """End every session (or every session of ``subject``); how many."""
    statement = delete(ConsoleSession)
    if subject is not None:
        statement = statement.where(ConsoleSession.subject == subject)
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
