"""The agency's database as the SQL adapter sees it: one engine, and the mapping checked against it.

``open_engine`` makes the engine (the one module here that talks to SQLAlchemy's URL and
driver errors); ``bind`` reflects the tables and views a mapping names and refuses, before
anything is read or written, a mapping naming a table, column, contract or field that does not
exist (``adapter.sql.unknown_table``, ``unknown_column``, ``unknown_contract``,
``unknown_field``), or leaving a required column without a value (``adapter.sql.unmapped_column``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, MetaData, Table, TextClause, create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    NoSuchTableError,
    ProgrammingError,
    SQLAlchemyError,
)

from connectors.adapters.sql.mapping import (
    MESSAGE_FIELDS,
    EventFeed,
    SqlOptions,
    StatusMapping,
    WriteTarget,
    check_subject,
    feed_matching_key,
)
from connectors.adapters.subjects import BODY_FIELD
from connectors.identity.keys import MatchingKey
from contracts.catalog import bundled_contract
from onedoor.errors import NotFound, Unavailable, ValidationFailed
from onedoor.ids import AgencyId, Purpose

UNKNOWN_TABLE: Final = "adapter.sql.unknown_table"
UNKNOWN_COLUMN: Final = "adapter.sql.unknown_column"
UNKNOWN_CONTRACT: Final = "adapter.sql.unknown_contract"
UNKNOWN_FIELD: Final = "adapter.sql.unknown_field"
UNMAPPED_COLUMN: Final = "adapter.sql.unmapped_column"
BAD_QUERY: Final = "adapter.sql.bad_query"
BAD_URL: Final = "adapter.sql.bad_url"
UNAVAILABLE: Final = "adapter.sql.unavailable"
CONNECT_TIMEOUT_S: Final = 5


@dataclass(frozen=True, slots=True)
class StatusSource:
    """The status mapping with what it reads from: a reflected table or view, or a query."""

    mapping: StatusMapping
    table: Table | None
    query: TextClause | None


@dataclass(frozen=True, slots=True)
class BoundTarget:
    """A write target with its reflected table."""

    target: WriteTarget
    table: Table


@dataclass(frozen=True, slots=True)
class BoundFeed:
    """An event feed with what it reads from: a reflected table or view, or a query."""

    feed: EventFeed
    table: Table | None
    query: str | None
    matching_key: MatchingKey | None = None
    """The federation matching key, when the feed derives its subject token (``subject_token: {derive: ...}``)."""
    body_subject: bool = False
    """Put the derived token in the body's own ``subject_token`` field too (the contract has one, unmapped)."""


@dataclass(frozen=True, slots=True)
class Bound:
    """A mapping checked against the live database."""

    status: StatusSource | None
    writes: dict[str, tuple[BoundTarget, ...]]
    """Contract name to the targets its messages are written to (in mapping order)."""
    events: tuple[BoundFeed, ...] = ()


def database_url(name: str, options: SqlOptions, base_dir: Path) -> str:
    """The URL to connect to: ``url`` (a relative SQLite path made relative to ``base_dir``) or ``url_env``'s.

    Raises:
        ValidationFailed: ``adapter.sql.bad_url`` (never quoting the URL, which may hold a password).
        Unavailable: ``adapter.sql.unavailable`` when a SQLite file does not exist.
    """
    raw = options.url
    if options.url_env is not None:
        # The one environment read of the adapter: the operator keeps the password out of the file.
        raw = os.environ.get(options.url_env)
        if not raw:
            raise ValidationFailed(BAD_URL, f"adapter {name!r}: the environment variable {options.url_env} is not set")
    assert raw is not None  # noqa: S101 - SqlOptions requires url or url_env
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValidationFailed(BAD_URL, f"adapter {name!r}: the database URL is not a SQLAlchemy URL") from None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            path = base_dir / path
            url = url.set(database=str(path))
        if not path.exists():  # SQLite would make an empty database and every table would be "unknown"
            raise Unavailable(UNAVAILABLE, f"adapter {name!r}: no SQLite database at {path}")
    return url.render_as_string(hide_password=False)


def open_engine(name: str, url: str) -> Engine:
    """An engine for the agency's database (connections checked before use: the database may restart).

    Raises:
        ValidationFailed: ``adapter.sql.bad_url`` when no driver is installed for the URL.
    """
    backend = make_url(url).get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args["check_same_thread"] = False  # writes run in a worker thread
    elif backend == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (NoSuchModuleError, ArgumentError, ImportError):
        raise ValidationFailed(BAD_URL, f"adapter {name!r}: no database driver for {backend!r} URLs") from None


def bind(name: str, engine: Engine, options: SqlOptions, matching_key: MatchingKey | None = None) -> Bound:
    """Reflect what the mapping names and check it all exists; nothing is read or written.

    Raises:
        ValidationFailed: the ``adapter.sql.unknown_*`` codes, ``unmapped_column``, ``bad_query``.
        Unavailable: ``adapter.sql.unavailable`` when the database cannot be reached.
    """
    try:
        with engine.connect() as conn:
            status = None if options.status is None else _bind_status(name, conn, options, options.status)
            writes: dict[str, list[BoundTarget]] = {}
            for position, target in enumerate(options.write):
                bound = _bind_target(name, conn, options, target, position)
                writes.setdefault(target.contract, []).append(bound)
            feeds = tuple(_bind_feed(name, conn, options, feed, matching_key) for feed in options.events)
    except DBAPIError as exc:
        if isinstance(exc, ProgrammingError) and not exc.connection_invalidated:
            raise ValidationFailed(BAD_QUERY, f"adapter {name!r}: the database refused the mapping's query") from None
        raise Unavailable(
            UNAVAILABLE, f"adapter {name!r}: cannot reach its database ({type(exc.orig).__name__})"
        ) from None
    return Bound(status, {contract: tuple(targets) for contract, targets in writes.items()}, feeds)


def _bind_status(name: str, conn: Connection, options: SqlOptions, mapping: StatusMapping) -> StatusSource:
    if mapping.query is not None:
        query = text(mapping.query)
        try:
            probe = conn.execute(text(f"SELECT * FROM ({mapping.query}) AS onedoor_probe WHERE 1 = 0"))  # noqa: S608 - the operator's own query, run by the operator's own adapter
        except SQLAlchemyError:
            raise ValidationFailed(BAD_QUERY, f"adapter {name!r}: status.query does not run") from None
        available = set(probe.keys())
        for column in mapping.columns_used():
            if column not in available:
                raise ValidationFailed(UNKNOWN_COLUMN, f"adapter {name!r}: status.query has no column {column!r}")
        return StatusSource(mapping, None, query)
    assert mapping.table is not None  # noqa: S101 - StatusMapping requires table or query
    table = _reflect(name, conn, options, mapping.table)
    for column in mapping.columns_used():
        if column not in table.c:
            raise ValidationFailed(UNKNOWN_COLUMN, f"adapter {name!r}: table {table.name!r} has no column {column!r}")
    return StatusSource(mapping, table, None)


def _bind_target(name: str, conn: Connection, options: SqlOptions, target: WriteTarget, position: int) -> BoundTarget:
    where = f"write[{position}]"
    try:
        contract = bundled_contract(target.contract)
    except (NotFound, ValidationFailed):
        raise ValidationFailed(
            UNKNOWN_CONTRACT, f"adapter {name!r}: {where}.contract {target.contract!r} is not a known contract"
        ) from None
    for column, source in target.columns.items():
        if source.field is not None and source.field not in MESSAGE_FIELDS and source.field not in contract.tags:
            raise ValidationFailed(
                UNKNOWN_FIELD,
                f"adapter {name!r}: {where}.columns.{column}: {target.contract} has no field {source.field!r}",
            )
    table = _reflect(name, conn, options, target.table)
    for column in target.columns:
        if column not in table.c:
            raise ValidationFailed(UNKNOWN_COLUMN, f"adapter {name!r}: table {table.name!r} has no column {column!r}")
    for held in table.c:
        generated = (held.primary_key and held.autoincrement in (True, "auto")) or held.identity is not None
        required = not held.nullable and held.server_default is None and not generated
        if required and held.name not in target.columns:
            raise ValidationFailed(
                UNMAPPED_COLUMN,
                f"adapter {name!r}: table {table.name!r} column {held.name!r} needs a value; nothing is mapped to it",
            )
    return BoundTarget(target, table)


def _bind_feed(
    name: str, conn: Connection, options: SqlOptions, feed: EventFeed, matching_key: MatchingKey | None
) -> BoundFeed:
    where = f"events.{feed.name}"
    check_subject(name, feed)
    key = feed_matching_key(name, feed, matching_key)
    try:
        contract = bundled_contract(feed.contract)
    except (NotFound, ValidationFailed):
        raise ValidationFailed(
            UNKNOWN_CONTRACT, f"adapter {name!r}: {where}.contract {feed.contract!r} is not a known contract"
        ) from None
    body_subject = key is not None and BODY_FIELD in contract.tags and BODY_FIELD not in feed.body
    for path in feed.body:
        if path not in contract.tags:
            raise ValidationFailed(
                UNKNOWN_FIELD, f"adapter {name!r}: {where}.body: {feed.contract} has no field {path!r}"
            )
    for recipient in feed.recipients:
        try:
            AgencyId(recipient)
        except ValidationFailed:
            raise invalid(name, f"{where}.recipients: {recipient!r:.70} is not an agency id") from None
    try:
        Purpose(feed.purpose)
    except ValidationFailed:
        raise invalid(name, f"{where}.purpose is not a purpose") from None
    if feed.query is not None:
        try:
            probe = conn.execute(text(f"SELECT * FROM ({feed.query}) AS onedoor_probe WHERE 1 = 0"))  # noqa: S608 - the operator's own query
        except SQLAlchemyError:
            raise ValidationFailed(BAD_QUERY, f"adapter {name!r}: {where}.query does not run") from None
        available = set(probe.keys())
        for column in feed.columns_used():
            if column not in available:
                raise ValidationFailed(UNKNOWN_COLUMN, f"adapter {name!r}: {where}.query has no column {column!r}")
        return BoundFeed(feed, None, feed.query, key, body_subject)
    assert feed.table is not None  # noqa: S101 - EventFeed requires table or query
    table = _reflect(name, conn, options, feed.table)
    for column in feed.columns_used():
        if column not in table.c:
            raise ValidationFailed(UNKNOWN_COLUMN, f"adapter {name!r}: table {table.name!r} has no column {column!r}")
    return BoundFeed(feed, table, None, key, body_subject)


def invalid(name: str, detail: str) -> ValidationFailed:
    """``adapter.invalid_options`` naming the adapter."""
    return ValidationFailed("adapter.invalid_options", f"adapter {name!r}: {detail}")


def _reflect(name: str, conn: Connection, options: SqlOptions, table_name: str) -> Table:
    schema = options.db_schema
    inspector = inspect(conn)
    known = set(inspector.get_table_names(schema=schema)) | set(inspector.get_view_names(schema=schema))
    if table_name not in known:
        raise ValidationFailed(UNKNOWN_TABLE, f"adapter {name!r}: no table or view {table_name!r} in its database")
    try:
        return Table(table_name, MetaData(schema=schema), autoload_with=conn)
    except NoSuchTableError:
        raise ValidationFailed(
            UNKNOWN_TABLE, f"adapter {name!r}: no table or view {table_name!r} in its database"
        ) from None
