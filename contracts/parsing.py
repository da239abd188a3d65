"""The one place that parses Avro schemas, with fastavro (codec, tags) and avro (compatibility).

Both parsers' errors become ``ValidationFailed("contract.invalid_schema")``. Parsed schemas are
cached by their JSON text and shared between callers, so callers must treat them as read-only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import avro.errors
import avro.schema
from fastavro.schema import SchemaParseException, UnknownType, parse_schema

from onedoor.errors import ValidationFailed

INVALID_SCHEMA = "contract.invalid_schema"

SchemaSource = str | Mapping[str, Any]
"""An Avro schema as JSON text or as its decoded JSON object."""

_CACHE_SIZE = 512


def schema_text(schema: SchemaSource) -> str:
    """The schema as JSON text (unchanged when it already is text)."""
    return schema if isinstance(schema, str) else json.dumps(schema, separators=(",", ":"))


def parse_fastavro(schema: SchemaSource) -> dict[str, Any]:
    """The schema parsed by fastavro (names fully qualified, custom attributes kept)."""
    if isinstance(schema, dict) and "__fastavro_parsed" in schema:
        return schema
    return _parse_fastavro_text(schema_text(schema))


def parse_avro(schema: SchemaSource) -> avro.schema.Schema:
    """The schema parsed by the ``avro`` package, which ``compatibility`` needs."""
    return _parse_avro_text(schema_text(schema))


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_fastavro_text(text: str) -> dict[str, Any]:
    try:
        decoded = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(INVALID_SCHEMA, f"schema is not valid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise ValidationFailed(INVALID_SCHEMA, "a contract schema must be a JSON object (an Avro record)")
    try:
        parsed = parse_schema(decoded)
    except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError, AttributeError) as exc:
        # fastavro reports structural mistakes with several builtin exception types.
        raise ValidationFailed(INVALID_SCHEMA, f"not a valid Avro schema: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValidationFailed(INVALID_SCHEMA, "a contract schema must be an Avro record")
    return parsed


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_avro_text(text: str) -> avro.schema.Schema:
    try:
        return avro.schema.parse(text)
    except (avro.errors.AvroException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValidationFailed(INVALID_SCHEMA, f"not a valid Avro schema: {exc}") from None
