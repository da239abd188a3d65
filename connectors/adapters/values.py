"""Contract values to and from JSON, and adapter options checked into typed settings.

``from_json`` turns a JSON body (dates as ``YYYY-MM-DD``, times as ISO 8601) into the values a
contract's Avro schema takes, guided by the schema; ``to_json`` is the inverse (dates and times
as ISO text, bytes as base64). ``check_body`` converts and encodes a body to prove it fits its
contract. ``parse_options`` checks an adapter's options against a pydantic model. Every error
names the field or option, never a value. Pure: no I/O.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from contracts import codec
from contracts.catalog import ContractSchema
from onedoor.errors import ValidationFailed

Options = TypeVar("Options", bound=BaseModel)


def to_json(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    """``value`` as JSON-ready data: datetimes as ISO 8601 UTC, dates as ``YYYY-MM-DD``, bytes as base64."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(to_json(v) for v in value)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def from_json(value: Mapping[str, Any], schema: ContractSchema, *, code: str, prefix: str = "") -> dict[str, Any]:
    """The contract's record for a JSON object: dates and times parsed where the schema has them.

    Unknown fields are kept (the encoder refuses them by name).

    Raises:
        ValidationFailed: ``code``, naming the field (``<prefix>child.date_of_birth``) that is not a date or time.
    """
    return dict(_Converter(schema.parsed.get("__named_schemas", {}), code, prefix).value(value, schema.parsed, ""))


def check_body(value: Mapping[str, Any], schema: ContractSchema, *, code: str, prefix: str = "") -> dict[str, Any]:
    """``from_json``, then encode it to prove it fits the contract; returns the converted record.

    Raises:
        ValidationFailed: ``code``, naming the first field that does not fit (never its value).
    """
    record = from_json(value, schema, code=code, prefix=prefix)
    try:
        codec.encode(schema, record)
    except ValidationFailed as exc:
        where = exc.message.split(": ", 1)[-1]
        raise ValidationFailed(code, where.replace("field '", f"field '{prefix}", 1)) from None
    return record


class _Converter:
    def __init__(self, named: Mapping[str, Any], code: str, prefix: str) -> None:
        self._named = named
        self._code = code
        self._prefix = prefix

    def value(self, value: Any, schema: Any, path: str) -> Any:  # noqa: PLR0911 - one return per schema kind
        if isinstance(schema, str):
            schema = self._named.get(schema, schema)
        if isinstance(schema, list):
            if value is None:
                return None
            others = [b for b in schema if b != "null"]
            return self.value(value, others[0], path) if len(others) == 1 else value
        if isinstance(schema, str):
            return value
        logical = schema.get("logicalType")
        if logical == "date" and isinstance(value, str):
            return self._parse(dt.date.fromisoformat, value, path, "a date as YYYY-MM-DD")
        if logical in ("timestamp-millis", "timestamp-micros") and isinstance(value, str):
            parsed = self._parse(dt.datetime.fromisoformat, value, path, "a date and time in ISO 8601")
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        kind = schema.get("type")
        if kind == "record" and isinstance(value, Mapping):
            fields = {f["name"]: f["type"] for f in schema["fields"]}
            return {
                str(k): self.value(v, fields[k], f"{path}.{k}" if path else str(k)) if k in fields else v
                for k, v in value.items()
            }
        if kind == "array" and isinstance(value, list):
            return [self.value(v, schema["items"], f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map" and isinstance(value, Mapping):
            return {str(k): self.value(v, schema["values"], f"{path}.{k}") for k, v in value.items()}
        return value

    def _parse(self, parse: Any, value: str, path: str, what: str) -> Any:
        try:
            return parse(value)
        except ValueError:
            raise ValidationFailed(self._code, f"field '{self._prefix}{path}' must be {what}") from None


def parse_options(model: type[Options], options: Mapping[str, Any], *, code: str, adapter: str) -> Options:
    """``options`` checked against ``model``.

    Raises:
        ValidationFailed: ``code`` naming the adapter and each bad or unknown option (never its value).
    """
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = sorted(
            {f"{'.'.join(str(p) for p in e['loc']) or 'options'} ({_problem(e['type'])})" for e in exc.errors()}
        )
        raise ValidationFailed(code, f"adapter {adapter}: bad option(s): {', '.join(problems)}") from None


def _problem(kind: str) -> str:
    return {"missing": "required", "extra_forbidden": "unknown option"}.get(kind, kind.replace("_", " "))
