"""Message bodies to and from Avro binary (no header, no schema id: the envelope names both).

This sits on the sealing hot path, so schemas are parsed once and cached by their JSON text,
and values are not validated twice: fastavro writes directly, and only when it refuses does
``contracts.values`` work out which field was wrong. Errors never quote values (they are
personal data): they name the contract and the field.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from contracts.catalog import ContractSchema
from contracts.parsing import SchemaSource, parse_fastavro
from contracts.values import locate_mismatch
from onedoor.errors import ValidationFailed

MALFORMED_BODY = "contract.malformed_body"
INVALID_VALUE = "contract.invalid_value"
UNRESOLVABLE = "contract.unresolvable"

Schema = ContractSchema | SchemaSource
"""A bundled/registered contract, or a schema as JSON text or object (parsed once, cached)."""

# What fastavro raises on a value that does not fit: it has no exception type of its own.
_WRITE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError)
# What it raises on truncated or corrupt bytes (found by fuzzing bundled contracts).
_READ_ERRORS = (EOFError, IndexError, UnicodeDecodeError, OverflowError, ValueError, TypeError, KeyError)


def encode(schema: Schema, value: Mapping[str, Any]) -> bytes:
    """Encode ``value`` as Avro binary under ``schema``.

    Fields with a default may be left out; unknown fields are refused rather than dropped.

    Raises:
        ValidationFailed: ``contract.invalid_value``, naming the field that does not fit.
    """
    parsed = _parsed(schema)
    buffer = io.BytesIO()
    try:
        schemaless_writer(buffer, parsed, value, strict_allow_default=True)
    except _WRITE_ERRORS:
        where = locate_mismatch(value, parsed) or "a field does not fit the schema"
        # ``from None``: fastavro's message quotes the value, which must not reach any log.
        raise ValidationFailed(INVALID_VALUE, f"{parsed['name']}: {where}") from None
    return buffer.getvalue()


def decode(data: bytes, writer: Schema, reader: Schema | None = None) -> dict[str, Any]:
    """Decode a body written with ``writer``, resolved to ``reader`` when given.

    Raises:
        ValidationFailed: ``contract.malformed_body`` for truncated, corrupt or over-long bytes;
            ``contract.unresolvable`` when ``reader`` cannot read what ``writer`` wrote.
    """
    writer_parsed = _parsed(writer)
    reader_parsed = None if reader is None else _parsed(reader)
    buffer = io.BytesIO(data)
    try:
        record = schemaless_reader(buffer, writer_parsed, reader_parsed)
    except SchemaResolutionError:
        raise ValidationFailed(
            UNRESOLVABLE, f"{_name(reader_parsed)} cannot read a body written with {writer_parsed['name']}"
        ) from None
    except _READ_ERRORS:
        raise ValidationFailed(MALFORMED_BODY, f"body is not a valid {writer_parsed['name']}") from None
    if buffer.tell() != len(data) or not isinstance(record, dict):
        # Trailing bytes mean the sender used another schema (or the body was tampered with).
        raise ValidationFailed(MALFORMED_BODY, f"body is not a valid {writer_parsed['name']}: trailing bytes")
    return record


def _parsed(schema: Schema) -> dict[str, Any]:
    if isinstance(schema, ContractSchema):
        return schema.parsed
    return parse_fastavro(schema)


def _name(parsed: Mapping[str, Any] | None) -> str:
    return "reader schema" if parsed is None else str(parsed["name"])
