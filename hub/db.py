"""The hub's database adapter: engine and sessions from settings, and schema migrations.

The schema is owned by Alembic (``hub/migrations``, shipped inside the package); the hub
upgrades it to head at start, so a fresh SQLite file or PostgreSQL database just works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from onedoor.db import make_engine, make_session_factory
from onedoor.logging import get_logger
from onedoor.settings import Settings

log = get_logger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
"""The packaged Alembic script directory."""

# Any constant will do; it only has to be the same in every hub process.
_MIGRATION_LOCK = 0x0_0D_00_0B


def _engine_kwargs(url: str) -> dict[str, Any]:
    if make_url(url).get_backend_name() == "postgresql":
        # Fail a readiness probe in seconds rather than hang on an unreachable server.
        return {"connect_args": {"connect_timeout": 10}}
    return {}


def prepare_sqlite(url: str) -> None:
    """Create the parent directory of a SQLite file URL (no-op for other databases)."""
    parsed = make_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
    ):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def engine_from_settings(settings: Settings) -> Engine:
    """The hub's engine for ``settings.database_url``; stale pooled connections are replaced."""
    url = settings.database_url
    prepare_sqlite(url)
    # hide_parameters: driver errors (logged on a 500) never carry the statement's values.
    return make_engine(url, pool_pre_ping=True, hide_parameters=True, **_engine_kwargs(url))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return make_session_factory(engine)


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations (no ini file, no logging setup)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _run(url: str, action: str, revision: str) -> None:
    prepare_sqlite(url)
    # A plain engine: no SQLite foreign-key pragma, which batch migrations (copy, drop, rename) need off.
    engine = create_engine(url, poolclass=NullPool, **_engine_kwargs(url))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Two hubs starting together must not both create the tables.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config = alembic_config()
            config.attributes["connection"] = connection
            if action == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    finally:
        engine.dispose()
    log.info("hub.migrated", action=action, revision=revision, backend=make_url(url).get_backend_name())


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (``alembic upgrade head``)."""
    _run(url, "upgrade", revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision`` (default: drop every hub table)."""
    _run(url, "downgrade", revision)
