"""Parsing Canonical Form, the Avro SHA-256 fingerprint, and OneDoor's contract digest.

The fingerprint is the standard one: SHA-256 over the Parsing Canonical Form (PCF), which keeps
only what decides the bytes on the wire. PCF drops everything else, including ``sensitivity``
tags, defaults, logical types and aliases. Those still matter to OneDoor: tags decide who may
see a field, and defaults and logical types decide what a reader gets back. So the registry
also keeps a *contract digest*: SHA-256 over the whole parsed schema except its ``doc`` strings.
A registration is "the same schema" only when both match. Consequences:

* a tag-only change (or a new default, or a logical type) is a new version; it is always
  wire-compatible, and recipients learn that the access rules changed;
* a doc-only change (or a mere reformatting) is the same version, so agencies that bundle a
  contract with a corrected doc string do not fork its version numbers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastavro.schema import fingerprint as _avro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from contracts.parsing import SchemaSource, parse_fastavro

# Attributes left out of the contract digest: prose, and fastavro's own bookkeeping keys.
_NOT_DIGESTED = frozenset({"doc", "__fastavro_parsed", "__named_schemas"})


def canonical_form(schema: SchemaSource) -> str:
    """The schema's Parsing Canonical Form (Avro specification)."""
    return str(to_parsing_canonical_form(parse_fastavro(schema)))


def fingerprint(schema: SchemaSource) -> str:
    """SHA-256 of the Parsing Canonical Form, as 64 lowercase hex characters."""
    return str(_avro_fingerprint(canonical_form(schema), "SHA-256"))


def contract_digest(schema: SchemaSource) -> str:
    """SHA-256 over the parsed schema without docs: changes with tags, defaults, logical types."""
    normal = json.dumps(_strip(parse_fastavro(schema)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(normal.encode()).hexdigest()


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        stripped = {k: _strip(v) for k, v in node.items() if k not in _NOT_DIGESTED}
        # {"type": "string"} and "string" are the same schema; digest them the same way.
        if set(stripped) == {"type"} and isinstance(stripped["type"], str):
            return stripped["type"]
        return stripped
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node
