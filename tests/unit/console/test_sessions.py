"""Console sessions: made from a principal, never outliving its token, ended by idleness, sign-out or age."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.console import sessions
from hub.console.models import ConsoleSession
from hub.console.sessions import Lifetimes
from onedoor.db import Base
from onedoor.ids import AgencyId
from onedoor.websession import session_id_hash

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
LIFETIMES = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=8))


@pytest.fixture
def db() -> Iterator[Session]:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine, tables=[ConsoleSession.__table__])  # type: ignore[list-item]
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
    engine.dispose()


def _principal(expires_in: timedelta = timedelta(hours=1), role: Role = Role.OPS_VIEWER) -> Principal:
    agency = AgencyId("lb-fake-csc") if role is Role.AGENCY_ADMIN else None
    return Principal("synthia-example", frozenset({role}), agency, token_id="jti-1", expires_at=NOW + expires_in)


def test_a_session_keeps_who_and_roles_but_only_a_hash_of_its_id(db: Session) -> None:
    sid, live = sessions.start(db, _principal(role=Role.AGENCY_ADMIN), NOW, LIFETIMES)
    row = db.scalars(select(ConsoleSession)).one()
    assert row.id_hash == session_id_hash(sid) != sid
    assert sid not in (row.id_hash, row.csrf, row.subject, row.roles)
    assert (row.subject, row.roles, row.agency) == ("synthia-example", "agency-admin", "lb-fake-csc")
    assert live.roles == frozenset({Role.AGENCY_ADMIN})
    assert live.agency == AgencyId("lb-fake-csc")
    assert len(live.csrf) >= 32


def test_a_session_ends_with_its_token_or_its_absolute_lifetime_whichever_is_first(db: Session) -> None:
    _, short = sessions.start(db, _principal(expires_in=timedelta(minutes=20)), NOW, LIFETIMES)
    _, long = sessions.start(db, _principal(expires_in=timedelta(days=2)), NOW, LIFETIMES)
    assert short.expires_at == NOW + timedelta(minutes=20)
    assert long.expires_at == NOW + LIFETIMES.absolute


def test_resolve_finds_a_live_session_and_updates_its_last_use(db: Session) -> None:
    sid, started = sessions.start(db, _principal(), NOW, LIFETIMES)
    later = NOW + timedelta(minutes=20)
    found = sessions.resolve(db, sid, later, LIFETIMES)
    assert found is not None
    assert found.id_hash == started.id_hash
    # Used 20 minutes in, so still alive 40 minutes in (idle 20 < 30).
    assert sessions.resolve(db, sid, NOW + timedelta(minutes=40), LIFETIMES) is not None


@pytest.mark.parametrize(
    ("after", "why"),
    [
        (timedelta(minutes=31), "idle longer than the idle lifetime"),
        (timedelta(hours=1), "past the token's expiry"),
    ],
)
def test_an_expired_session_is_refused_and_deleted(db: Session, after: timedelta, why: str) -> None:
    sid, _ = sessions.start(db, _principal(), NOW, LIFETIMES)
    assert sessions.resolve(db, sid, NOW + after, LIFETIMES) is None, why
    db.flush()
    assert db.scalars(select(ConsoleSession)).all() == [], why


@pytest.mark.parametrize("sid", [None, "", "made-up", "x" * 500, "caf\u00e9-\u2603"])
def test_unknown_or_odd_session_ids_resolve_to_nobody(db: Session, sid: str | None) -> None:
    sessions.start(db, _principal(), NOW, LIFETIMES)
    assert sessions.resolve(db, sid, NOW, LIFETIMES) is None


def test_sign_out_ends_the_session(db: Session) -> None:
    sid, live = sessions.start(db, _principal(), NOW, LIFETIMES)
    sessions.end(db, live.id_hash)
    assert sessions.resolve(db, sid, NOW, LIFETIMES) is None


def test_purge_deletes_only_dead_sessions(db: Session) -> None:
    sessions.start(db, _principal(expires_in=timedelta(minutes=5)), NOW, LIFETIMES)
    alive_sid, _ = sessions.start(db, _principal(), NOW + timedelta(minutes=30), LIFETIMES)
    assert sessions.purge_expired(db, NOW + timedelta(minutes=31), LIFETIMES) == 1
    assert sessions.resolve(db, alive_sid, NOW + timedelta(minutes=31), LIFETIMES) is not None
