"""``hub`` commands: serve the HTTP API, migrate the database."""

from __future__ import annotations

import asyncio

import typer
import uvicorn

from hub import db
from hub.app import create_app
from hub.router import runtime
from onedoor.kafka.cluster import ensure_running
from onedoor.logging import configure_logging
from onedoor.settings import Settings

app = typer.Typer(
    name="hub",
    help=(
        "The OneDoor hub: HTTP API (registry, contracts, agreements, consent, policy, public form, "
        "network, transfers, the ops and admin console at /console, /metrics) and the envelope router."
    ),
    no_args_is_help=True,
)


@app.command()
def api() -> None:
    """Serve the hub's HTTP API on the configured host and port (migrates the database first)."""
    settings = Settings()
    configure_logging()
    # The same broker the routers use (started locally if none is configured): agreement, consent
    # and registry changes are announced on it, so every router applies them at once.
    bootstrap = ensure_running(settings)
    # log_config=None keeps uvicorn's loggers on our structlog handler.
    app = create_app(settings, bootstrap=bootstrap)
    uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_config=None)


@app.command()
def router() -> None:
    """Route envelopes: read every agency's outbound topic, check, deliver or dead-letter, audit."""
    settings = Settings()
    configure_logging()
    db.migrate(settings.database_url)
    bootstrap = ensure_running(settings)
    engine = db.engine_from_settings(settings)
    try:
        asyncio.run(runtime.serve(settings, bootstrap, db.session_factory(engine)))
    finally:
        engine.dispose()


@app.command()
def migrate(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Upgrade the hub database to ``revision`` without starting the API."""
    settings = Settings()
    configure_logging()
    db.migrate(settings.database_url, revision)
