"""The packaged migrations build exactly the schema the models declare, and take it down again.

Runs on SQLite and on a real PostgreSQL server: ``upgrade head`` from empty, Alembic's
``compare_metadata`` against ``Base.metadata`` (no differences allowed), ``downgrade base``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
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
from hub.db import alembic_config, downgrade, migrate
from onedoor.db import Base

pytestmark = pytest.mark.integration

# Every model module, as env.py imports them, so Base.metadata is complete.
MODEL_MODULES = (
    hub.agencies.models,
    hub.agreements.models,
    hub.audit.models,
    hub.console.models,
    hub.consents.models,
    hub.deadletters.models,
    hub.fleet.models,
    hub.intake.models,
    hub.network.models,
    hub.transfers.models,
    contracts.registry.models,
)
HUB_TABLES = {
    "agency",
    "agency_key",
    "agreement_version",
    "agreement_approval",
    "audit_event",
    "console_session",
    "consent_record",
    "consent_override",
    "connector_heartbeat",
    "dead_letter",
    "intake_key",
    "public_referral",
    "network_member",
    "transfer",
    "contract",
    "contract_version",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file in a directory not yet made, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'not' / 'yet' / 'hub.sqlite3'}"
    url: str = request.getfixturevalue("postgres_database_url")
    return url


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _differences(url: str) -> list[object]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _current(url: str) -> str | None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def test_the_models_are_all_known_to_the_metadata() -> None:
    assert set(Base.metadata.tables) >= HUB_TABLES


def test_upgrade_from_empty_matches_the_models_and_downgrade_removes_everything(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    migrate(database_url)
    assert _tables(database_url) == {*Base.metadata.tables, "alembic_version"}
    assert _current(database_url) == head
    assert _differences(database_url) == []

    migrate(database_url)  # already at head: nothing to do, nothing fails
    assert _current(database_url) == head

    downgrade(database_url)
    assert _tables(database_url) == {"alembic_version"}
    assert _current(database_url) is None

    migrate(database_url)
    assert _differences(database_url) == []


def test_there_is_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1
