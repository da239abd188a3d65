"""CSV columns to contract fields: check a file's header and turn each row into a message body.

A ``ColumnMapping`` is built once from the folder adapter's options (which column fills which
field path, constant ``defaults``, the date format) and the contract's schema; it refuses a
mapping that names a field the contract does not have, a field a cell cannot fill (a list of
records), or that leaves a required field with neither a column nor a default. Then
``header_problems`` checks a file's header row and ``map_row`` turns one row into a body or
into ``RowProblem``s: a bad date, number or yes/no, a value not among the field's symbols, a
required cell left empty, a row the contract refuses. A problem names the row, the column and
what was expected, never the value (a cell may hold a name). Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connectors.adapters.values import check_body
from connectors.triage.referral import REFERRAL, parse_referral
from contracts.catalog import ContractSchema
from onedoor.errors import ValidationFailed

BAD_MAPPING: Final = "adapter.folder.bad_mapping"
MISSING_COLUMN: Final = "adapter.folder.missing_column"
DUPLICATE_COLUMN: Final = "adapter.folder.duplicate_column"
RAGGED_ROW: Final = "adapter.folder.ragged_row"
BAD_DATE: Final = "adapter.folder.bad_date"
BAD_NUMBER: Final = "adapter.folder.bad_number"
BAD_BOOLEAN: Final = "adapter.folder.bad_boolean"
UNKNOWN_VALUE: Final = "adapter.folder.unknown_value"
MISSING_VALUE: Final = "adapter.folder.missing_value"
INVALID_ROW: Final = "adapter.folder.invalid_row"
NO_IDENTIFIER: Final = "adapter.folder.no_identifier"

_TRUE: Final = frozenset({"true", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "0"})
_AUTOMATIC: Final = {str(REFERRAL): frozenset({"referral_id", "submitted_at"})}
"""Fields filled when no column gives them: a referral's id (stable per file and row) and its time."""
_MAY_BE_EMPTY: Final = {str(REFERRAL): frozenset({"child.given_name", "child.family_name"})}
"""Required fields an empty cell may leave empty: a child may be known only by a nickname or an NHS number."""
_FIELD_IN_MESSAGE: Final = re.compile(r"field '([^']+)'")
_FORMAT_WORDS: Final = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH", "%M": "MM", "%S": "SS", "%y": "YY"}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row (or the header, row 1) was rejected. Never holds a cell's value."""

    row: int
    """The row as a spreadsheet numbers it: the header is row 1."""
    column: str
    """The column's header, or empty when the problem is the whole row's."""
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What one field path takes from a cell."""

    path: tuple[str, ...]
    kind: str
    """``string``, ``int``, ``long``, ``float``, ``double``, ``boolean``, ``enum``, ``date`` or ``timestamp``."""
    symbols: tuple[str, ...] = ()
    many: bool = False
    """An array: the cell holds several values separated by the list separator."""
    required: bool = False
    """The contract requires it (no default, and within required records only)."""


class ColumnMapping:
    """Which column fills which field of one contract, and how a cell is read."""

    def __init__(
        self,
        schema: ContractSchema,
        columns: Mapping[str, str],
        *,
        defaults: Mapping[str, Any] | None = None,
        date_format: str = "%Y-%m-%d",
        list_separator: str = ";",
        adapter: str = "folder",
        filled: Iterable[str] = (),
    ) -> None:
        """Check the mapping against the contract.

        ``filled``: top-level fields the adapter fills itself for each row (a derived ``subject_token``),
        passed to ``map_row`` as ``extra``.

        Raises:
            ValidationFailed: ``adapter.folder.bad_mapping`` naming the field or column.
        """
        self.schema = schema
        self.filled = frozenset(filled)
        self.contract = str(schema.name)
        self.date_format = date_format
        self.list_separator = list_separator
        named = schema.parsed.get("__named_schemas", {})
        self.fields: dict[str, FieldSpec] = {}
        for column, path in columns.items():
            if not column.strip():
                raise ValidationFailed(BAD_MAPPING, f"adapter {adapter}: a mapped column has an empty name")
            self.fields[column] = _spec(schema.parsed, path, named, adapter)
        self.defaults = dict(defaults or {})
        for path in self.defaults:
            _spec(schema.parsed, path, named, adapter, leaf_only=False)
        given = (
            {".".join(s.path) for s in self.fields.values()}
            | set(self.defaults)
            | _AUTOMATIC.get(self.contract, frozenset())
            | self.filled
        )
        unfilled = [p for p in _required_leaves(schema.parsed, named, "") if p not in given]
        if unfilled:
            raise ValidationFailed(
                BAD_MAPPING,
                f"adapter {adapter}: the contract requires {', '.join(unfilled)}: map a column or give a default",
            )
        # A required field with a default in the options may be left empty (or out): the default fills it.
        self.required_columns = tuple(
            c for c, s in self.fields.items() if s.required and ".".join(s.path) not in self.defaults
        )
        self._by_path = {".".join(s.path): c for c, s in self.fields.items()}

    def column_of(self, path: str) -> str | None:
        """The column mapped to the field ``path``, if any."""
        return self._by_path.get(path)

    def header_problems(self, header: Sequence[str]) -> list[RowProblem]:
        """Problems of the header row that reject the whole file: a required column missing, a column twice."""
        problems = [
            RowProblem(1, column, MISSING_COLUMN, f"the required column '{column}' is missing from the header")
            for column in self.required_columns
            if column not in header
        ]
        seen: set[str] = set()
        for column in header:
            if column in seen and column in self.fields:
                problems.append(RowProblem(1, column, DUPLICATE_COLUMN, f"the column '{column}' appears twice"))
            seen.add(column)
        return problems

    def map_row(
        self, row: Mapping[str, str], number: int, *, row_key: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | list[RowProblem]:
        """The contract's record for one row, or why it cannot be sent.

        Args:
            row: cell text by column header.
            number: the row's spreadsheet number (for problems).
            row_key: stable for this file and row (a referral's ``referral_id`` is derived from it).
            extra: values of ``filled`` fields for this row (a field with no value is left out).
        """
        body: dict[str, Any] = {path: value for path, value in (extra or {}).items() if path in self.filled}
        problems: list[RowProblem] = []
        for path, value in self.defaults.items():
            _put(body, tuple(path.split(".")), value)
        for column, spec in self.fields.items():
            text = (row.get(column) or "").strip()
            if not text:
                if column not in self.required_columns:
                    continue
                if ".".join(spec.path) in _MAY_BE_EMPTY.get(self.contract, ()):
                    _put(body, spec.path, "")
                else:
                    problems.append(RowProblem(number, column, MISSING_VALUE, f"'{column}' must not be empty"))
                continue
            try:
                _put(body, spec.path, self._cells(text, spec, column))
            except _CellError as exc:
                problems.append(RowProblem(number, column, exc.code, exc.message))
        if problems:
            return problems
        return self._whole(body, number, row_key)

    def _cells(self, text: str, spec: FieldSpec, column: str) -> Any:
        if spec.many:
            return [self._cell(part.strip(), spec, column) for part in text.split(self.list_separator) if part.strip()]
        return self._cell(text, spec, column)

    def _cell(self, text: str, spec: FieldSpec, column: str) -> Any:  # noqa: PLR0911 - one return per kind
        if spec.kind == "date":
            try:
                return dt.datetime.strptime(text, self.date_format).date()
            except ValueError:
                raise _CellError(BAD_DATE, f"'{column}' is not a date as {_human(self.date_format)}") from None
        if spec.kind == "timestamp":
            return self._timestamp(text, column)
        if spec.kind in ("int", "long"):
            if not re.fullmatch(r"[+-]?\d{1,18}", text):
                raise _CellError(BAD_NUMBER, f"'{column}' is not a whole number")
            return int(text)
        if spec.kind in ("float", "double"):
            try:
                return float(text)
            except ValueError:
                raise _CellError(BAD_NUMBER, f"'{column}' is not a number") from None
        if spec.kind == "boolean":
            lowered = text.lower()
            if lowered in _TRUE or lowered in _FALSE:
                return lowered in _TRUE
            raise _CellError(BAD_BOOLEAN, f"'{column}' must be yes or no")
        if spec.kind == "enum":
            symbol = re.sub(r"[\s-]+", "_", text).upper()
            if symbol not in spec.symbols:
                raise _CellError(UNKNOWN_VALUE, f"'{column}' must be one of {', '.join(spec.symbols)}")
            return symbol
        return text

    def _timestamp(self, text: str, column: str) -> dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            try:
                moment = dt.datetime.strptime(text, self.date_format)
            except ValueError:
                raise _CellError(
                    BAD_DATE, f"'{column}' is not a date and time in ISO 8601 or a date as {_human(self.date_format)}"
                ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    def _whole(self, body: dict[str, Any], number: int, row_key: str) -> dict[str, Any] | list[RowProblem]:
        if self.contract == str(REFERRAL):
            body.setdefault("referral_id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"onedoor:folder:{row_key}")))
            try:
                return parse_referral(body)
            except ValidationFailed as exc:
                if exc.code == "referral.no_identifier":
                    return [RowProblem(number, "", NO_IDENTIFIER, "the row has no name, nickname, NHS or pupil number")]
                return [self._problem(number, exc.message)]
        try:
            return check_body(body, self.schema, code=INVALID_ROW)
        except ValidationFailed as exc:
            return [self._problem(number, exc.message)]

    def _problem(self, number: int, message: str) -> RowProblem:
        found = _FIELD_IN_MESSAGE.search(message)
        path = re.sub(r"\[[^\]]*\]", "", found.group(1)) if found else ""
        column = self._by_path.get(path, "")
        code = MISSING_VALUE if "required and missing" in message else INVALID_ROW
        where = message.split(": ", 1)[-1]
        return RowProblem(number, column, code, f"the row does not fit {self.contract}: {where}")


class _CellError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def _human(date_format: str) -> str:
    text = date_format
    for directive, word in _FORMAT_WORDS.items():
        text = text.replace(directive, word)
    return text


def _put(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = body
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _spec(
    schema: Mapping[str, Any], path: str, named: Mapping[str, Any], adapter: str, *, leaf_only: bool = True
) -> FieldSpec:
    parts = tuple(path.split("."))
    record: Any = schema
    required = True
    current: Any = None
    for i, part in enumerate(parts):
        if not _is_record(record):
            raise ValidationFailed(BAD_MAPPING, f"adapter {adapter}: {path} is not a field of the contract")
        field = next((f for f in record["fields"] if f["name"] == part), None)
        if field is None:
            raise ValidationFailed(BAD_MAPPING, f"adapter {adapter}: {path} is not a field of the contract")
        required = required and "default" not in field
        current = _resolve(field["type"], named)
        if isinstance(current, list):
            others = [_resolve(b, named) for b in current if b != "null"]
            required = required and "null" not in current
            current = others[0] if len(others) == 1 else others
        if i < len(parts) - 1:
            record = current
    if not leaf_only:
        return FieldSpec(parts, "any")
    many = isinstance(current, Mapping) and current.get("type") == "array"
    if many:
        current = _resolve(current["items"], named)
    kind = _kind(current)
    if kind is None:
        raise ValidationFailed(BAD_MAPPING, f"adapter {adapter}: {path} cannot be filled from one cell")
    symbols = tuple(current["symbols"]) if kind == "enum" else ()
    return FieldSpec(parts, kind, symbols, many, required)


def _kind(schema: Any) -> str | None:
    if isinstance(schema, str):
        return schema if schema in ("string", "int", "long", "float", "double", "boolean") else None
    if not isinstance(schema, Mapping):
        return None
    logical = schema.get("logicalType")
    if logical == "date":
        return "date"
    if str(logical).startswith("timestamp"):
        return "timestamp"
    if schema.get("type") == "enum":
        return "enum"
    return _kind(schema.get("type")) if isinstance(schema.get("type"), str) else None


def _resolve(schema: Any, named: Mapping[str, Any]) -> Any:
    return named.get(schema, schema) if isinstance(schema, str) else schema


def _is_record(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "record"


def _required_leaves(record: Mapping[str, Any], named: Mapping[str, Any], prefix: str) -> list[str]:
    found: list[str] = []
    for field in record["fields"]:
        if "default" in field:
            continue
        path = f"{prefix}.{field['name']}" if prefix else field["name"]
        inner = _resolve(field["type"], named)
        if _is_record(inner):
            found += _required_leaves(inner, named, path)
        else:
            found.append(path)
    return found
