"""Make a reference agency's database: its schema, its ``onedoor_status`` view, its synthetic rows.

``seed_database(system, url, count=..., seed=..., as_of=...)`` creates the schema of ``police``
or ``council`` in an empty database (SQLite or PostgreSQL) and fills it with the generator's
rows; ``replace=True`` drops that schema's tables first. ``adapters_file(system, folder)`` writes
the adapters file whose SQL mapping reads that database. Every record is synthetic.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, MetaData, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from connectors.reference import council, police
from onedoor.errors import Unavailable, ValidationFailed

UNKNOWN_SYSTEM: Final = "reference.unknown_system"
NOT_EMPTY: Final = "reference.not_empty"
BAD_URL: Final = "reference.bad_url"
UNAVAILABLE: Final = "reference.unavailable"
VIEW: Final = "onedoor_status"


@dataclass(frozen=True, slots=True)
class System:
    """One reference agency system: its schema, view and row generator."""

    name: str
    metadata: MetaData
    status_view: Any
    rows: Any
    main_table: str


SYSTEMS: Final = {
    "police": System("police", police.metadata, police.status_view, police.rows, "nominals"),
    "council": System("council", council.metadata, council.status_view, council.rows, "children"),
}


def system(name: str) -> System:
    """The reference system called ``name``.

    Raises:
        ValidationFailed: ``reference.unknown_system``.
    """
    found = SYSTEMS.get(name)
    if found is None:
        raise ValidationFailed(UNKNOWN_SYSTEM, f"no reference system {name!r} (there are: {', '.join(SYSTEMS)})")
    return found


def seed_database(
    name: str,
    url: str,
    *,
    count: int = 200,
    seed: int = 1,
    as_of: dt.date | None = None,
    replace: bool = False,
) -> dict[str, int]:
    """Create ``name``'s schema at ``url`` and fill it; rows written per table.

    Raises:
        ValidationFailed: ``reference.unknown_system``, ``reference.bad_url``, ``reference.not_empty``
            (the tables hold rows and ``replace`` is off).
        Unavailable: ``reference.unavailable`` when the database cannot be reached.
    """
    chosen = system(name)
    engine = _engine(url)
    try:
        return _seed(engine, chosen, count=count, seed=seed, as_of=as_of or dt.date.today(), replace=replace)
    except DBAPIError as exc:
        raise Unavailable(UNAVAILABLE, f"cannot write the {name} database ({type(exc.orig).__name__})") from None
    finally:
        engine.dispose()


def _seed(engine: Engine, chosen: System, *, count: int, seed: int, as_of: dt.date, replace: bool) -> dict[str, int]:
    made = chosen.rows(count, seed=seed, as_of=as_of)
    with engine.begin() as conn:
        existing = set(inspect(conn).get_table_names())
        if chosen.main_table in existing and not replace:
            held = conn.execute(select(func.count()).select_from(chosen.metadata.tables[chosen.main_table])).scalar()
            if held:
                raise ValidationFailed(
                    NOT_EMPTY, f"the {chosen.name} database already holds {held} rows; seed again with --replace"
                )
        conn.execute(text(f"DROP VIEW IF EXISTS {VIEW}"))
        if replace:
            chosen.metadata.drop_all(conn)
        chosen.metadata.create_all(conn)
        conn.execute(text(chosen.status_view(conn.dialect.name)))
        for table in chosen.metadata.sorted_tables:
            table_rows = made.get(table.name)
            if table_rows:
                conn.execute(table.insert(), table_rows)
    return {table: len(table_rows) for table, table_rows in made.items()}


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
        return create_engine(parsed)
    except (ArgumentError, NoSuchModuleError, ImportError):
        raise ValidationFailed(BAD_URL, "the database URL is not a SQLAlchemy URL with an installed driver") from None


def default_url_env(name: str) -> str:
    """The variable an adapters file names for ``name``'s database URL (``ONEDOOR_REFERENCE_POLICE_DB_URL``)."""
    return f"ONEDOOR_REFERENCE_{name.upper()}_DB_URL"


def mapping_text(name: str, url: str | None = None, *, url_env: str | None = None) -> str:
    """The adapters file (YAML) whose SQL mapping reads and writes ``name``'s database.

    ``url_env`` makes it name that environment variable (``url_env:``) instead of a URL, which is
    how a URL holding a password stays out of the file; otherwise ``url`` (quoted) replaces its URL.
    """
    system(name)
    text_ = (resources.files("connectors.reference") / "mappings" / f"{name}.yaml").read_text(encoding="utf-8")
    default = f"url: sqlite:///{name}.sqlite3"
    if url_env is not None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", url_env):
            raise ValidationFailed(BAD_URL, "the URL's environment variable name is not a variable name")
        text_ = text_.replace(default, f"url_env: {url_env}", 1)
    elif url is not None:
        text_ = text_.replace(default, f"url: {json.dumps(url)}", 1)  # a JSON string is a quoted YAML scalar
    return text_


def is_sqlite(url: str) -> bool:
    """Whether ``url`` is a SQLite URL (a file path, no password to keep out of files)."""
    return url.startswith("sqlite")


def adapters_file(name: str, folder: Path, *, url: str | None = None, url_env: str | None = None) -> Path:
    """Write ``name``'s adapters file into ``folder`` (``<name>.adapters.yaml``, mode 0600); its path.

    A SQLite ``url`` is written in; any other database is named by ``url_env`` (default
    ``default_url_env(name)``), never written, since its URL may hold a password.
    """
    if url is not None and not is_sqlite(url):
        url_env = url_env or default_url_env(name)
    text_ = mapping_text(name, url if url_env is None else None, url_env=url_env)
    path = folder / f"{name}.adapters.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its mode on O_CREAT: tighten it
        handle.write(text_)
    return path
