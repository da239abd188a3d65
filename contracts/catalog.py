"""The contracts bundled with OneDoor, and ``ContractSchema``: one schema, parsed and checked.

Bundled schemas live in ``contracts/schemas/*.avsc`` (package data). Each must be a named
record whose every field carries a sensitivity tag; a bundled schema that is not fails the
process at start, not the first message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from contracts.fingerprint import contract_digest, fingerprint
from contracts.parsing import INVALID_SCHEMA, SchemaSource, parse_avro, parse_fastavro, schema_text
from contracts.sensitivity import Sensitivity, field_tags
from onedoor.errors import NotFound, ValidationFailed
from onedoor.ids import ContractName

UNKNOWN_CONTRACT = "contract.unknown"

# The transport envelope (written by the hub) is not a message-body contract: bodies travel
# inside it. It is not tagged field by field and is not registered. Nor is the hub's record of a
# public referral (``hub.intake``), which carries a sealed form, not a body.
_NOT_BODY_CONTRACTS = frozenset({"onedoor.envelope.avsc", "onedoor.intake.submission.avsc"})


@dataclass(frozen=True, slots=True)
class ContractSchema:
    """A contract schema that parsed and passed tag validation. Equal when digests are equal."""

    name: ContractName
    """The record's full name, e.g. ``onedoor.referral.MasterReferral``."""
    fingerprint: str
    """SHA-256 of the Parsing Canonical Form (hex): what decides the wire format."""
    digest: str
    """SHA-256 of everything but docs (hex): also changes with tags, defaults, logical types."""
    raw: str = field(compare=False, repr=False)
    """The JSON text as written."""
    parsed: dict[str, Any] = field(compare=False, repr=False)
    """fastavro's parsed form, shared and cached: read-only."""
    tags: Mapping[str, Sensitivity] = field(compare=False, repr=False)
    """Field path to sensitivity tag, in schema order."""

    @classmethod
    def from_json(cls, schema: SchemaSource) -> ContractSchema:
        """Parse and check a contract schema.

        Raises:
            ValidationFailed: ``contract.invalid_schema`` (does not parse, or is not a named
                record with a valid contract name), ``contract.untagged_field`` or
                ``contract.unknown_tag``.
        """
        raw = schema_text(schema)
        parsed = parse_fastavro(raw)
        if parsed.get("type") != "record":
            raise ValidationFailed(INVALID_SCHEMA, "a contract schema must be an Avro record")
        try:
            name = ContractName.parse(parsed["name"])
        except ValidationFailed as exc:
            raise ValidationFailed(INVALID_SCHEMA, f"record name is not a contract name: {exc.message}") from None
        # The compatibility checker parses with the avro package, which is stricter in places.
        parse_avro(raw)
        tags = MappingProxyType(field_tags(parsed))
        return cls(name, fingerprint(parsed), contract_digest(parsed), raw, parsed, tags)


@cache
def bundled() -> Mapping[ContractName, ContractSchema]:
    """Every bundled contract by name, loaded and checked once per process."""
    found: dict[ContractName, ContractSchema] = {}
    directory = resources.files("contracts") / "schemas"
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".avsc") and entry.name not in _NOT_BODY_CONTRACTS:
            contract = ContractSchema.from_json(entry.read_text(encoding="utf-8"))
            found[contract.name] = contract
    return MappingProxyType(found)


def bundled_contract(name: str) -> ContractSchema:
    """One bundled contract.

    Raises:
        NotFound: ``contract.unknown`` if OneDoor bundles no contract of that name.
    """
    contract = bundled().get(ContractName(name)) if _is_name(name) else None
    if contract is None:
        raise NotFound(UNKNOWN_CONTRACT, f"no bundled contract named {name!r:.140}")
    return contract


def _is_name(name: str) -> bool:
    return ContractName.pattern.fullmatch(name) is not None
