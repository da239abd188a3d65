"""Find which field of a value does not fit its schema, for error messages only.

fastavro's own errors quote the offending value, and values here are personal data, so the
codec never passes them on. This walk names the field path and the expected type instead. It
runs only after fastavro has already refused a value, so it favours clarity over speed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def locate_mismatch(value: Any, schema: Mapping[str, Any]) -> str | None:
    """A sentence naming the first field of ``value`` that ``schema`` (fastavro-parsed) refuses."""
    return _Locator(schema.get("__named_schemas", {})).visit(value, schema, "")


class _Locator:
    def __init__(self, named: Mapping[str, Any]) -> None:
        self._named = named

    def visit(self, value: Any, schema: Any, path: str) -> str | None:
        if isinstance(schema, str) and schema in self._named:
            schema = self._named[schema]
        if isinstance(schema, list):
            return self._union(value, schema, path)
        kind = schema if isinstance(schema, str) else schema["type"]
        if kind == "record":
            return self._record(value, schema, path)
        if kind in ("array", "map"):
            return self._collection(value, schema, path, kind)
        if _fits(value, schema):
            return None
        if kind in _INT_RANGE and isinstance(value, int) and not isinstance(value, bool):
            return f"{_where(path)} is out of range for an Avro {kind}"
        return f"{_where(path)} expects {_expected(schema)}, got {type(value).__name__}"

    def _record(self, value: Any, schema: Mapping[str, Any], path: str) -> str | None:
        if not isinstance(value, Mapping):
            return f"{_where(path)} expects a record {schema['name']}, got {type(value).__name__}"
        names = {f["name"] for f in schema["fields"]}
        extra = sorted(str(k) for k in value if k not in names)
        if extra:
            return f"{_where(path)} has unknown field(s) {', '.join(extra)}"
        for field in schema["fields"]:
            sub = f"{path}.{field['name']}" if path else field["name"]
            if field["name"] not in value:
                if "default" not in field:
                    return f"{_where(sub)} is required and missing"
                continue
            problem = self.visit(value[field["name"]], field["type"], sub)
            if problem:
                return problem
        return None

    def _collection(self, value: Any, schema: Mapping[str, Any], path: str, kind: str) -> str | None:
        if kind == "array":
            if not isinstance(value, Sequence) or isinstance(value, str | bytes):
                return f"{_where(path)} expects a list, got {type(value).__name__}"
            items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
            inner = schema["items"]
        else:
            if not isinstance(value, Mapping):
                return f"{_where(path)} expects a map, got {type(value).__name__}"
            items = [(f"{path}[{k!r:.20}]", v) for k, v in value.items()]
            inner = schema["values"]
        for sub, item in items:
            problem = self.visit(item, inner, sub)
            if problem:
                return problem
        return None

    def _union(self, value: Any, branches: list[Any], path: str) -> str | None:
        problems = [self.visit(value, branch, path) for branch in branches]
        if None in problems:
            return None
        # When the value was plainly aimed at one branch (the only non-null one, or the only
        # record for a mapping), what is wrong inside that branch is the useful answer.
        kinds = [_resolved_kind(b, self._named) for b in branches]
        aimed = [p for k, p in zip(kinds, problems, strict=True) if k != "null"]
        records = [p for k, p in zip(kinds, problems, strict=True) if k == "record"]
        if len(aimed) == 1:
            return aimed[0]
        if isinstance(value, Mapping) and len(records) == 1:
            return records[0]
        expected = " or ".join(_expected(self._named.get(b, b) if isinstance(b, str) else b) for b in branches)
        return f"{_where(path)} expects {expected}, got {type(value).__name__}"


def _fits(value: Any, schema: Any) -> bool:
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = None if isinstance(schema, str) else schema.get("logicalType")
    if logical in _LOGICAL and _LOGICAL[logical](value):
        return True
    check = _CHECKS.get(kind)
    return check is not None and check(value, schema)


def _is_int(value: Any, kind: str) -> bool:
    low, high = _INT_RANGE[kind]
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Logical types also accept the Python value fastavro converts from.
_LOGICAL: dict[str, Callable[[Any], bool]] = {
    "date": lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime),
    "timestamp-millis": lambda v: isinstance(v, dt.datetime),
    "timestamp-micros": lambda v: isinstance(v, dt.datetime),
}
_CHECKS: dict[str, Callable[[Any, Any], bool]] = {
    "null": lambda v, _: v is None,
    "boolean": lambda v, _: isinstance(v, bool),
    "int": lambda v, _: _is_int(v, "int"),
    "long": lambda v, _: _is_int(v, "long"),
    "float": lambda v, _: _is_number(v),
    "double": lambda v, _: _is_number(v),
    "string": lambda v, _: isinstance(v, str),
    "bytes": lambda v, _: isinstance(v, bytes | bytearray),
    "enum": lambda v, s: isinstance(v, str) and v in s["symbols"],
    "fixed": lambda v, s: isinstance(v, bytes | bytearray) and len(v) == s["size"],
}


def _expected(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if schema.get("logicalType") == "date":
        return "a date"
    if str(schema.get("logicalType", "")).startswith("timestamp"):
        return "a datetime"
    if schema["type"] == "enum":
        return f"one of {schema['name']}'s symbols"
    return str(schema.get("name", schema["type"]))


def _resolved_kind(schema: Any, named: Mapping[str, Any]) -> str:
    if isinstance(schema, str):
        schema = named.get(schema, schema)
    return schema if isinstance(schema, str) else str(schema["type"])


def _where(path: str) -> str:
    return f"field '{path}'" if path else "the record"
