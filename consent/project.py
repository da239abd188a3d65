"""Cut a message down to the fields a decision allows, and the schema to write the result with.

``project(body, contract, allowed_fields)`` works on the *decoded* body (a dict as
``contracts.codec.decode`` returns it). It keeps a field only if its path is allowed and so is
every record it sits in, walks nested records, arrays of records, maps and optional unions,
and drops anything it cannot place (a path the contract does not have, a dict where the
schema has no record or map) rather than guess. A projection never contains a field outside
the allowed set.

**Required fields.** A projection usually lacks fields the contract requires (the child's
name under a "limited" agreement), so it cannot be encoded with the contract's own schema.
``projection_schema(schema, allowed_fields)`` derives a schema in which removed fields are
*absent*, not optional: same record name, same tags and docs for what remains. The sender
encodes the projection with it.

**How the recipient reads it.** The recipient makes its own decision for the message (same
request, its own copy of the index), derives the same projection schema from the contract
version named in the header and its own ``allowed_fields``, and decodes with that schema as
both writer and reader. It must not decode with the full contract schema: removed required
fields have no default, so Avro schema resolution would fail. Because the derivation is
deterministic, both sides get the same schema (compare ``contracts.fingerprint.fingerprint``
of each if the header carries one); a difference means the two sides decided differently,
and the recipient rejects the message.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import uuid
from collections.abc import Mapping
from typing import Any, Final

from consent.contract import RECORD_TYPES, Kind, MapOf, Shape, TaggedContract
from contracts.catalog import ContractSchema
from contracts.parsing import SchemaSource, parse_fastavro

_DROP: Final = object()
_SCALARS: Final = (str, bytes, int, float, bool, datetime.date, datetime.time, decimal.Decimal, uuid.UUID)


def project(
    body: Mapping[str, Any], contract: TaggedContract, allowed_fields: frozenset[str] | set[str]
) -> dict[str, Any]:
    """A new dict with only the allowed fields of ``body`` (module docstring). The input is not changed."""
    return _record(body, "", allowed_fields, contract.shapes)


def _record(
    record: Mapping[str, Any], prefix: str, allowed: frozenset[str] | set[str], shapes: Mapping[str, Shape]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in record.items():
        path = f"{prefix}.{name}" if prefix else name
        shape = shapes.get(path)
        if shape is None or path not in allowed:
            continue
        kept = _value(value, path, shape, allowed, shapes)
        if kept is not _DROP:
            out[name] = kept
    return out


def _value(value: Any, path: str, shape: Shape, allowed: frozenset[str] | set[str], shapes: Mapping[str, Shape]) -> Any:
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, list):
        items = (_value(item, path, shape, allowed, shapes) for item in value)
        return [item for item in items if item is not _DROP]
    if isinstance(value, Mapping):
        if shape is Kind.RECORD:
            return _record(value, path, allowed, shapes)
        if isinstance(shape, MapOf):
            pairs = ((key, _value(item, path, shape.values, allowed, shapes)) for key, item in value.items())
            return {key: item for key, item in pairs if item is not _DROP}
    return _DROP  # a dict where no record or map can be, or a type no Avro decoder produces


def projection_schema(
    schema: ContractSchema | SchemaSource, allowed_fields: frozenset[str] | set[str]
) -> dict[str, Any]:
    """The contract's schema with every field outside ``allowed_fields`` (or under a removed record) absent.

    Named types are defined once, at their first kept use, and referred to by name after that;
    a record kept differently at two paths gets a suffixed name at the second (``Address_2``).
    With every field allowed, the result has the contract's own fingerprint. The result is a
    new JSON object; derive it once per (contract version, allowed set) and cache it.
    """
    parsed = schema.parsed if isinstance(schema, ContractSchema) else parse_fastavro(schema)
    shapes = TaggedContract.from_schema(schema, 1).shapes
    builder = _Builder(parsed.get("__named_schemas", {}), allowed_fields, shapes)
    builder.names.add(parsed["name"])
    projected: dict[str, Any] = builder.record(parsed, "", top=True)
    return projected


class _Builder:
    def __init__(
        self, named: Mapping[str, Any], allowed: frozenset[str] | set[str], shapes: Mapping[str, Shape]
    ) -> None:
        self.named = named
        self.allowed = allowed
        self.shapes = shapes
        self.names: set[str] = set()
        """Names of the types written out so far."""
        self.records: dict[tuple[str, frozenset[str]], str] = {}
        """(original name, kept paths relative to the record) → the name it was written out under."""

    def type(self, schema: Any, path: str) -> Any:  # noqa: PLR0911 - one return per kind of Avro type
        if isinstance(schema, str):
            target = self.named.get(schema)
            return schema if target is None else self.type(target, path)
        if isinstance(schema, list):
            return [self.type(branch, path) for branch in schema]
        kind = schema.get("type")
        if kind in RECORD_TYPES:
            return self.record(schema, path)
        if kind == "array":
            return {**_attributes(schema, "items"), "items": self.type(schema["items"], path)}
        if kind == "map":
            return {**_attributes(schema, "values"), "values": self.type(schema["values"], path)}
        if kind in ("enum", "fixed"):
            if schema["name"] in self.names:
                return schema["name"]
            self.names.add(schema["name"])
        return _attributes(schema)

    def record(self, schema: Mapping[str, Any], prefix: str, *, top: bool = False) -> Any:
        name = str(schema["name"])
        if not top:
            start = len(prefix) + 1
            kept_below = frozenset(p[start:] for p in self.allowed if p.startswith(prefix + ".") and p in self.shapes)
            key = (name, kept_below)
            if key in self.records:
                return self.records[key]
            name = self._fresh(name)
            self.records[key] = name
        fields = []
        for item in schema["fields"]:
            path = f"{prefix}.{item['name']}" if prefix else item["name"]
            if path not in self.allowed or path not in self.shapes:
                continue
            kept = {**_attributes(item, "type", "default"), "type": self.type(item["type"], path)}
            if "default" in item:
                default = _value(copy.deepcopy(item["default"]), path, self.shapes[path], self.allowed, self.shapes)
                if default is not _DROP:
                    kept["default"] = default
            fields.append(kept)
        return {**_attributes(schema, "fields", "name"), "name": name, "fields": fields}

    def _fresh(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.names or (candidate != name and candidate in self.named):
            n += 1
            candidate = f"{name}_{n}"
        self.names.add(candidate)
        return candidate


def _attributes(schema: Mapping[str, Any], *leave_out: str) -> dict[str, Any]:
    """The schema's own attributes without fastavro's bookkeeping and the ones rebuilt here."""
    return {k: v for k, v in schema.items() if not k.startswith("__") and k not in leave_out}
