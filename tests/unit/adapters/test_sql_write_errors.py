"""How the SQL writer sorts database errors: try again later (the database down or busy) or park for good."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError, ProgrammingError

from connectors.adapters.sql.writer import permanent_reason


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = create_engine(f"sqlite:///{tmp_path / 'agency.sqlite3'}")
    yield made
    made.dispose()


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")),
        OperationalError("INSERT", {}, sqlite3.OperationalError("unable to open database file")),
        OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error")),
        InterfaceError("INSERT", {}, sqlite3.InterfaceError("connection closed")),
        ProgrammingError("INSERT", {}, sqlite3.ProgrammingError("Cannot operate on a closed database.")),
        DBAPIError("INSERT", {}, sqlite3.DatabaseError("gone"), connection_invalidated=True),
    ],
    ids=["locked", "cannot open", "disk error", "interface", "closed database (a disconnect)", "invalidated"],
)
def test_a_busy_or_lost_database_is_transient(engine: Engine, error: DBAPIError) -> None:
    assert permanent_reason(engine, error) is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OperationalError("INSERT", {}, sqlite3.OperationalError("no such table: contacts")), "table does not exist"),
        (
            OperationalError("INSERT", {}, sqlite3.OperationalError("table contacts has no column named child_dob")),
            "column does not exist",
        ),
        (OperationalError("INSERT", {}, sqlite3.OperationalError("attempt to write a readonly database")), "read-only"),
        (ProgrammingError("INSERT", {}, sqlite3.ProgrammingError("permission denied")), "refused the statement"),
        (InternalError("INSERT", {}, sqlite3.InternalError("internal")), "refused the statement"),
    ],
    ids=["no table", "no column", "read-only", "programming error", "internal error"],
)
def test_a_schema_or_permission_problem_is_permanent(engine: Engine, error: DBAPIError, reason: str) -> None:
    found = permanent_reason(engine, error)
    assert found is not None
    assert reason in found
    assert "child_dob" not in found, "the driver's text is never quoted"


class _PgError(Exception):
    sqlstate = "42501"


def test_a_sqlstate_is_named_but_not_the_drivers_text(engine: Engine) -> None:
    error = ProgrammingError("INSERT", {}, _PgError('permission denied for table contacts: "Testy"'))
    assert permanent_reason(engine, error) == "SQLSTATE 42501"
