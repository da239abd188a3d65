"""``onedoor console`` commands: see who is signed in to the hub console, and end sessions.

They work on the hub's database directly (as ``onedoor hub migrate`` does), for the operator of
the hub: e.g. to end every session at once after a suspected leak of a token or a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from hub import db
from hub.audit.service import AuditEntry, append
from hub.console import sessions
from hub.console.sessions import Lifetimes
from onedoor.db import transaction
from onedoor.logging import configure_logging
from onedoor.settings import Settings

app = typer.Typer(name="console", help="The hub console's sign-in sessions: list them, end them.", no_args_is_help=True)


@contextmanager
def _database() -> Iterator[tuple[Settings, Session]]:
    settings = Settings()
    configure_logging()
    db.migrate(settings.database_url)
    engine = db.engine_from_settings(settings)
    try:
        with transaction(db.session_factory(engine)) as session:
            yield settings, session
    finally:
        engine.dispose()


def _lifetimes(settings: Settings) -> Lifetimes:
    return Lifetimes(
        idle=timedelta(minutes=settings.console.idle_minutes), absolute=timedelta(hours=settings.console.absolute_hours)
    )


@app.command("sessions")
def list_sessions() -> None:
    """List live console sessions: who, roles, agency, signed in, last used, ends."""
    with _database() as (settings, session):
        found = sessions.listing(session, datetime.now(UTC), _lifetimes(settings))
    if not found:
        typer.echo("no live console sessions")
        return
    for s in found:
        agency = f" agency={s.agency}" if s.agency else ""
        typer.echo(
            f"{s.subject} roles={s.roles}{agency} signed_in={s.created_at:%Y-%m-%dT%H:%M:%SZ} "
            f"last_used={s.last_used_at:%Y-%m-%dT%H:%M:%SZ} ends={s.expires_at:%Y-%m-%dT%H:%M:%SZ}"
        )


@app.command("end-sessions")
def end_sessions(
    subject: Annotated[str | None, typer.Option(help="Only this person's sessions (their token's subject).")] = None,
) -> None:
    """End every console session now (or one person's): they must sign in again. Audited."""
    with _database() as (_settings, session):
        ended = sessions.end_all(session, subject)
        detail = f"count={ended}" + ("" if subject is None else "; one subject")
        entry = AuditEntry(
            kind="console.sessions_ended",
            outcome="ok",
            actor=subject,
            source="onedoor console end-sessions",
            detail=detail,
        )
        append(session, [entry])
    typer.echo(f"ended {ended} console session(s)")
