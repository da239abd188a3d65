"""The database adapter's small pure parts: where SQLite files go, where migrations live."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from hub.db import MIGRATIONS, alembic_config, prepare_sqlite


def test_prepare_sqlite_makes_the_parent_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "hub.sqlite3"
    prepare_sqlite(f"sqlite:///{target}")
    assert target.parent.is_dir()
    assert not target.exists()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite://", id="in-memory"),
        pytest.param("sqlite:///:memory:", id="named in-memory"),
        pytest.param("postgresql+psycopg://u:p@127.0.0.1/db", id="a server database"),
    ],
)
def test_prepare_sqlite_leaves_other_urls_alone(url: str) -> None:
    prepare_sqlite(url)


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "alembic.ini").is_file()
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() is not None
