"""Write a received message into the agency's tables through the mapping: one transaction per message.

Every row is made before anything is written, so a message that cannot be mapped (a required
column left empty, a value the column's type cannot hold) is refused with nothing written:
``adapter.sql.missing_value`` or ``adapter.sql.type_mismatch`` (``DeliveryRefused``, naming the
table, column and field, never a value). The database refusing the row (a constraint) is
``adapter.sql.rejected``; the database down, unreachable, busy or timing out is
``adapter.sql.unavailable`` (``DeliveryRetry``). Any other database error (permission denied, a
table or column dropped since the start, an unsupported statement) will not go away by trying
again: ``adapter.sql.write_failed`` (``DeliveryRefused``, naming the table and the kind of error,
never a value), so the message is parked with a reason instead of blocking the inbox. A row whose
``dedupe_on`` value is already there was written before: not again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Engine, Integer, Numeric, String, insert, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from connectors.adapters.base import DeliveryRefused, DeliveryRetry
from connectors.adapters.sql.database import UNAVAILABLE, BoundTarget
from connectors.adapters.sql.mapping import WriteSource, map_key
from connectors.sdk.connector import ReceivedMessage

MISSING_VALUE: Final = "adapter.sql.missing_value"
TYPE_MISMATCH: Final = "adapter.sql.type_mismatch"
REJECTED: Final = "adapter.sql.rejected"
WRITE_FAILED: Final = "adapter.sql.write_failed"

# SQLite reports schema and permission problems as OperationalError, like a locked database:
# these texts (from sqlite3's messages) mark the ones trying again will not cure.
_SQLITE_PERMANENT: Final = (
    ("no such table", "the table does not exist"),
    ("no such column", "a column does not exist"),
    ("has no column named", "a column does not exist"),
    ("readonly database", "the database is read-only"),
    ("not authorized", "not authorised"),
)


class _Mismatch(Exception):
    """A value the column cannot hold; the text says why, without the value."""


def write_message(name: str, engine: Engine, targets: Sequence[BoundTarget], message: ReceivedMessage) -> int:
    """Write ``message`` as one row per target, all in one transaction; how many rows were new.

    Raises:
        DeliveryRefused: ``adapter.sql.missing_value``, ``type_mismatch``, ``rejected`` or ``write_failed``.
        DeliveryRetry: ``adapter.sql.unavailable``.
    """
    received_at = dt.datetime.now(dt.UTC)
    rows = [(bound, make_row(name, bound, message, received_at)) for bound in targets]
    written = 0
    table = rows[0][0].table.name if rows else "?"
    try:
        with engine.begin() as conn:
            for bound, row in rows:
                table = bound.table.name
                dedupe = bound.target.dedupe_on
                if dedupe is not None:
                    column = bound.table.c[dedupe]
                    if conn.execute(select(column).where(column == row[dedupe]).limit(1)).first() is not None:
                        continue
                conn.execute(insert(bound.table).values(row))
                written += 1
    except (IntegrityError, DataError) as exc:
        raise DeliveryRefused(
            REJECTED, f"adapter {name!r}: the database refused the row ({type(exc.orig).__name__}); nothing written"
        ) from None
    except DBAPIError as exc:
        kind = type(exc.orig).__name__
        permanent = permanent_reason(engine, exc)
        if permanent is None:
            raise DeliveryRetry(UNAVAILABLE, f"adapter {name!r}: cannot write to its database now ({kind})") from None
        raise DeliveryRefused(
            WRITE_FAILED,
            f"adapter {name!r}: the database would not write to table {table} ({kind}: {permanent}); nothing written",
        ) from None
    except PoolTimeout:
        raise DeliveryRetry(
            UNAVAILABLE, f"adapter {name!r}: cannot write to its database now (no free connection)"
        ) from None
    return written


def permanent_reason(engine: Engine, exc: DBAPIError) -> str | None:
    """Why trying ``exc``'s write again will not help, or ``None`` if it may (the database down or busy).

    Connection-level errors (a lost or refused connection, a timeout, a lock, a deadlock: the
    DB-API's ``OperationalError`` and ``InterfaceError``, or anything the dialect calls a
    disconnect) are transient. SQLite also raises ``OperationalError`` for a missing table or
    column, which is not. Everything else (``ProgrammingError`` such as permission denied or an
    undefined column, ``InternalError``, ``NotSupportedError``) is permanent. The reason never
    quotes the driver's text, which may hold a value.
    """
    if exc.connection_invalidated or _is_disconnect(engine, exc):
        return None
    if isinstance(exc, OperationalError):
        if engine.dialect.name == "sqlite":
            text = str(exc.orig).lower()
            for marker, reason in _SQLITE_PERMANENT:
                if marker in text:
                    return reason
        return None
    if isinstance(exc, InterfaceError):
        return None
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.isalnum() and len(sqlstate) == 5:
        return f"SQLSTATE {sqlstate}"
    return "the database refused the statement"


def _is_disconnect(engine: Engine, exc: DBAPIError) -> bool:
    try:
        return bool(engine.dialect.is_disconnect(exc.orig, None, None))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a dialect that cannot tell without a connection: not a disconnect
        return False


def make_row(name: str, bound: BoundTarget, message: ReceivedMessage, received_at: dt.datetime) -> dict[str, Any]:
    """The row ``message`` becomes in ``bound``'s table.

    Raises:
        DeliveryRefused: ``adapter.sql.missing_value`` or ``adapter.sql.type_mismatch``.
    """
    table = bound.table
    row: dict[str, Any] = {}
    for column_name, source in bound.target.columns.items():
        column = table.c[column_name]
        raw = source_value(source, message, received_at)
        where = f"adapter {name!r}: {table.name}.{column_name} <- {source.field or 'a constant'}"
        if raw is None:
            if not column.nullable and column.server_default is None:
                raise DeliveryRefused(MISSING_VALUE, f"{where}: the column needs a value and the message has none")
            row[column_name] = None
            continue
        try:
            row[column_name] = convert(raw, column)
        except _Mismatch as exc:
            raise DeliveryRefused(TYPE_MISMATCH, f"{where}: {exc}") from None
    return row


def source_value(source: WriteSource, message: ReceivedMessage, received_at: dt.datetime) -> Any:
    """The value ``source`` takes from ``message`` (mapped and joined as the mapping says)."""
    if source.field is None:
        value: Any = source.value
    elif source.field.startswith("$"):
        value = _header_value(source.field, message, received_at)
    else:
        value = field_value(message.body, source.field)
    if source.map is not None and value is not None:
        if isinstance(value, list):
            value = [source.map.get(map_key(item), item) for item in value]
        else:
            value = source.map.get(map_key(value), value)
    if source.join is not None and isinstance(value, list):
        value = source.join.join(str(item) for item in value if item is not None)
    return value


def field_value(body: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted field path; through a list of records, the list of their values."""
    current: Any = body
    for part in path.split("."):
        if isinstance(current, list):
            current = [item.get(part) for item in current if isinstance(item, Mapping)]
        elif isinstance(current, Mapping):
            current = current.get(part)
        else:
            return None
        if current is None:
            return None
    return current


def _header_value(name: str, message: ReceivedMessage, received_at: dt.datetime) -> Any:
    header = message.header
    values: dict[str, Any] = {
        "$message_id": header.message_id,
        "$sender": header.sender,
        "$contract": header.contract,
        "$contract_version": header.contract_version,
        "$purpose": header.purpose,
        "$correlation_id": header.correlation_id,
        "$subject_token": header.subject_token,
        "$created_at": dt.datetime.fromtimestamp(header.created_at_ms / 1000, dt.UTC),
        "$received_at": received_at,
    }
    found = values[name]
    return str(found) if isinstance(found, str) else found


def convert(value: Any, column: Column[Any]) -> Any:  # noqa: PLR0911, PLR0912 - one branch per column type
    """``value`` as ``column``'s type holds it.

    Raises:
        _Mismatch: saying what the column takes and what the value is (its type, never itself).
    """
    kind = column.type
    got = _kind_of(value)
    if isinstance(kind, Boolean):
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _Mismatch(f"a true/false column cannot hold {got}")
    if isinstance(kind, Integer):
        if isinstance(value, int):
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise _Mismatch(f"a whole-number column cannot hold {got}")
    if isinstance(kind, DateTime):
        moment = value if isinstance(value, dt.datetime) else _iso_datetime(value)
        if moment is None:
            raise _Mismatch(f"a date-time column cannot hold {got}")
        if moment.tzinfo is not None and not kind.timezone:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment
    if isinstance(kind, Date):
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise _Mismatch(f"a date column cannot hold {got}")
    if isinstance(kind, Numeric):
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return value
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise _Mismatch(f"a number column cannot hold {got}") from None
    if isinstance(kind, JSON):
        return json.loads(json.dumps(value, default=str))
    if isinstance(kind, String):
        if isinstance(value, list | dict):
            raise _Mismatch(f"a text column cannot hold {got} (give the source a join)")
        text = _as_text(value)
        if kind.length is not None and len(text) > kind.length:
            raise _Mismatch(f"the value is longer than the column's {kind.length} characters")
        return text
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _iso_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _kind_of(value: Any) -> str:
    names = {bool: "true/false", int: "a whole number", str: "text", list: "a list", dict: "a record"}
    for kind, label in names.items():
        if isinstance(value, kind):
            return label
    if isinstance(value, dt.datetime):
        return "a date-time"
    if isinstance(value, dt.date):
        return "a date"
    return f"a {type(value).__name__}"
