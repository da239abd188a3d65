"""``onedoor console sessions`` lists who is signed in; ``end-sessions`` signs them out, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hub import db
from hub.audit.models import AuditEvent
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.console import sessions
from hub.console.sessions import Lifetimes
from onedoor.cli import app
from onedoor.db import transaction
from onedoor.settings import Settings

LIFETIMES = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=8))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ONEDOOR_HOME", str(tmp_path))
    monkeypatch.setenv("ONEDOOR_ENV", "test")
    made = Settings()
    db.migrate(made.database_url)
    return made


def _sign_in(settings: Settings, subject: str, role: Role) -> None:
    now = datetime.now(UTC)
    engine = db.engine_from_settings(settings)
    try:
        with transaction(db.session_factory(engine)) as session:
            principal = Principal(subject, frozenset({role}), None, None, now + timedelta(hours=1))
            sessions.start(session, principal, now, LIFETIMES)
    finally:
        engine.dispose()


def test_list_then_end_one_persons_sessions_then_everyones(settings: Settings) -> None:
    runner = CliRunner()
    _sign_in(settings, "synthia-example", Role.OPS_VIEWER)
    _sign_in(settings, "testy-mcfakeface", Role.AUDITOR)

    listed = runner.invoke(app, ["console", "sessions"])
    assert listed.exit_code == 0, listed.output
    assert "synthia-example roles=ops-viewer" in listed.output
    assert "testy-mcfakeface roles=auditor" in listed.output

    one = runner.invoke(app, ["console", "end-sessions", "--subject", "synthia-example"])
    assert one.exit_code == 0, one.output
    assert "ended 1 console session(s)" in one.output
    after = runner.invoke(app, ["console", "sessions"])
    assert "synthia-example" not in after.output
    assert "testy-mcfakeface" in after.output

    everyone = runner.invoke(app, ["console", "end-sessions"])
    assert "ended 1 console session(s)" in everyone.output
    assert "no live console sessions" in runner.invoke(app, ["console", "sessions"]).output

    engine = db.engine_from_settings(settings)
    try:
        with transaction(db.session_factory(engine)) as session:
            rows = session.scalars(select(AuditEvent).where(AuditEvent.kind == "console.sessions_ended")).all()
            assert [(r.actor, r.detail) for r in rows] == [
                ("synthia-example", "count=1; one subject"),
                (None, "count=1"),
            ]
    finally:
        engine.dispose()
