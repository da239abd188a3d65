"""Alembic environment of the hub database.

``hub.db.migrate`` hands in an open connection (``config.attributes["connection"]``); the
``alembic`` command line instead takes ``-x url=...`` or falls back to the OneDoor settings.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, TypeDecorator, create_engine
from sqlalchemy.pool import NullPool

import contracts.registry.models
import hub.agencies.models
import hub.agreements.models
import hub.audit.models
import hub.consents.models
import hub.console.models
import hub.deadletters.models
import hub.fleet.models
import hub.intake.models
import hub.network.models
import hub.transfers.models
from onedoor.db import Base

# Every model module, so the metadata holds every table the hub owns.
MODEL_MODULES = (hub.agencies.models, hub.audit.models, contracts.registry.models)

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import application code: render our TypeDecorators as their base type.
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copy-and-rename
        compare_type=True,
        render_item=_render_item,
        **kwargs,
    )


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from onedoor.settings import Settings  # noqa: PLC0415 - only the command line needs settings

    return Settings().database_url


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate through the given connection, or one opened to the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run_on(conn)
    finally:
        engine.dispose()


if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    # Command-line use only; hub.db.migrate passes no ini file and keeps structlog's set-up.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
