"""A contract version as the engine needs it: each field path's data class, and the shape of its value.

**Which fields a set of data classes allows.** A field is allowed when its own class is
allowed *and so is the class of every record it sits in*. A record-typed field's tag is the
tag "for the whole" (contracts/README.md): sharing a part of a record whose whole may not be
shared would still tell the recipient about the whole. So the allowed set is always closed
under ancestors, and a projection keeps a field only with its parents.

**Fields added after an agreement was approved.** An agreement pins the contract version its
parties approved. ``added_since(pinned)`` is what a newer version holds that they did not see:
every field whose class is sensitive (``SENSITIVE``: all but ``operational``) and that the
pinned version lacks, or carried under another class, together with every field inside such
a field (a part of a record that may not be shared may not be shared either). The engine
withholds those until the agreement is amended to the newer version and approved again.

**Shapes.** To project a decoded body exactly, the engine must know whether a dict at a path is
a record (its keys are field names) or a map (its keys are data). Tags alone cannot say, so
``from_schema`` reads it from the schema; a union offering both a record and a map at one
path is ambiguous, and values there are dropped rather than guessed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Final, Self

from consent.errors import Invalid, invalid
from consent.model import DataClass
from contracts.catalog import ContractSchema
from contracts.fingerprint import contract_digest
from contracts.parsing import SchemaSource, parse_fastavro
from contracts.sensitivity import TAG_ATTRIBUTE, field_tags
from onedoor.ids import ContractName

SENSITIVE: Final = frozenset(DataClass) - {DataClass.OPERATIONAL}
"""Classes a new contract version may not start sharing under an agreement approved before it.
Everything but ``operational`` (ids, timestamps, statuses): ``demographic`` holds ethnicity, a
special category, and ``contact`` names people, so neither is harmless to add unseen."""


class Kind(Enum):
    """How to descend into a value at a path."""

    SCALAR = "scalar"
    """Not a container: kept as it is (lists are always walked item by item)."""
    RECORD = "record"
    """A dict whose keys are field names."""
    AMBIGUOUS = "ambiguous"
    """A union of a record and a map, or of maps of different shapes: dicts are dropped."""


@dataclass(frozen=True, slots=True)
class MapOf:
    """A dict whose keys are data and whose values have shape ``values``."""

    values: Shape


Shape = Kind | MapOf


@dataclass(frozen=True, slots=True, eq=False)
class TaggedContract:
    """One registered version of a contract: its tags, shapes, and the fields each class set allows.

    Equal (and hashed) by ``key``: name, version and a digest of the schema.
    """

    name: ContractName
    version: int
    tags: Mapping[str, DataClass]
    """Field path to data class, in schema order."""
    shapes: Mapping[str, Shape]
    """Field path to the shape of its value."""
    digest: str
    key: tuple[str, int, str] = field(init=False, repr=False)
    """``(name, version, digest)``: what decision caches key on."""
    classes: frozenset[DataClass] = field(init=False, repr=False)
    """Every class some field carries."""
    _chains: Mapping[str, frozenset[DataClass]] = field(init=False, repr=False)
    _allowed: dict[frozenset[DataClass], tuple[frozenset[str], frozenset[DataClass]]] = field(init=False, repr=False)
    _added: dict[tuple[str, int, str], frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (str(self.name), self.version, self.digest))
        object.__setattr__(self, "classes", frozenset(self.tags.values()))
        chains: dict[str, frozenset[DataClass]] = {}
        for path, klass in self.tags.items():
            parent, _, _ = path.rpartition(".")
            chains[path] = chains.get(parent, frozenset()) | {klass}
        object.__setattr__(self, "_chains", MappingProxyType(chains))
        object.__setattr__(self, "_allowed", {})
        object.__setattr__(self, "_added", {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaggedContract) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @classmethod
    def from_schema(cls, schema: ContractSchema | SchemaSource, version: int) -> Self:
        """Read tags and shapes from a contract schema.

        Raises:
            ValidationFailed: the codes of ``contracts.sensitivity.field_tags``, or
                ``contract.conflicting_tags`` when union branches tag one path differently.
        """
        parsed = schema.parsed if isinstance(schema, ContractSchema) else parse_fastavro(schema)
        checked = field_tags(parsed)  # every field tagged, every tag one of the eight
        tags: dict[str, DataClass] = {}
        shapes: dict[str, Shape] = {}
        for path, tag, shape in _walk(parsed, parsed.get("__named_schemas", {}), "", ()):
            if path in tags and tags[path] != tag:
                raise invalid(Invalid.AMBIGUOUS_TAG, f"field {path} is tagged both {tags[path]} and {tag}")
            tags[path] = DataClass(tag)
            shapes[path] = _merge(shapes[path], shape) if path in shapes else shape
        if tags.keys() != checked.keys():  # pragma: no cover - the two walks follow the same rules
            raise invalid(Invalid.AMBIGUOUS_TAG, "field paths differ from contracts.sensitivity's")
        digest = schema.digest if isinstance(schema, ContractSchema) else contract_digest(parsed)
        return cls(ContractName(parsed["name"]), version, MappingProxyType(tags), MappingProxyType(shapes), digest)

    @classmethod
    def from_tags(cls, name: str, version: int, tags: Mapping[str, DataClass]) -> Self:
        """From tags alone, for contracts without maps: a path with child paths is a record.

        A dict found at a path without child paths is dropped when projecting (it would be a
        map, which only ``from_schema`` can recognise).
        """
        parents = {path.rpartition(".")[0] for path in tags}
        shapes: dict[str, Shape] = {p: Kind.RECORD if p in parents else Kind.SCALAR for p in tags}
        text = json.dumps(sorted((p, str(t)) for p, t in tags.items()))
        digest = "tags:" + hashlib.sha256(text.encode()).hexdigest()
        return cls(ContractName(name), version, MappingProxyType(dict(tags)), MappingProxyType(shapes), digest)

    def fields_for(self, classes: frozenset[DataClass]) -> frozenset[str]:
        """Field paths allowed by ``classes``: own class and every enclosing record's class allowed."""
        return self.allowed(classes)[0]

    def allowed(self, classes: frozenset[DataClass]) -> tuple[frozenset[str], frozenset[DataClass]]:
        """``fields_for(classes)``, and the classes those fields actually carry (cached per class set)."""
        found = self._allowed.get(classes)
        if found is None:
            fields = frozenset(p for p, chain in self._chains.items() if chain <= classes)
            found = (fields, frozenset(self.tags[p] for p in fields))
            self._allowed[classes] = found
        return found

    def added_since(self, pinned: TaggedContract) -> frozenset[str]:
        """Field paths not approved under an agreement pinned to ``pinned`` (cached per pinned version).

        Sensitive fields that ``pinned`` lacks or tags differently, and every field inside them.
        Empty when ``pinned`` is this version or a newer one.
        """
        found = self._added.get(pinned.key)
        if found is None:
            found = frozenset()
            if pinned.version < self.version:
                old = pinned.tags
                new = {p for p, klass in self.tags.items() if klass in SENSITIVE and old.get(p) != klass}
                rest = self.tags.keys() - new
                found = frozenset(p for p in self.tags if p in new or not _parents_in(p, rest))
            self._added[pinned.key] = found
        return found

    def closure(self, allowed: frozenset[str] | set[str]) -> frozenset[str]:
        """The paths of ``allowed`` that are fields of this contract and whose every parent is in ``allowed``."""
        return frozenset(p for p in allowed if p in self.tags and _parents_in(p, allowed))


def _parents_in(path: str, allowed: frozenset[str] | set[str]) -> bool:
    parent = path.rpartition(".")[0]
    while parent:
        if parent not in allowed:
            return False
        parent = parent.rpartition(".")[0]
    return True


RECORD_TYPES: Final = ("record", "error")


def _walk(
    schema: Any, named: Mapping[str, Any], prefix: str, seen: tuple[str, ...]
) -> Iterator[tuple[str, str, Shape]]:
    """Yield ``(path, tag, shape)`` for every field, following ``contracts.sensitivity``'s walk."""
    if isinstance(schema, str):
        if schema in named and schema not in seen:
            yield from _walk(named[schema], named, prefix, seen)
        return
    if isinstance(schema, list):
        for branch in schema:
            yield from _walk(branch, named, prefix, seen)
        return
    kind = schema.get("type")
    if kind in RECORD_TYPES:
        inner = (*seen, schema["name"])
        for item in schema["fields"]:
            path = f"{prefix}.{item['name']}" if prefix else item["name"]
            yield path, item[TAG_ATTRIBUTE], _shape(item["type"], named)
            yield from _walk(item["type"], named, path, inner)
    elif kind == "array":
        yield from _walk(schema["items"], named, prefix, seen)
    elif kind == "map":
        yield from _walk(schema["values"], named, prefix, seen)


def _shape(schema: Any, named: Mapping[str, Any]) -> Shape:
    if isinstance(schema, str):
        target = named.get(schema)
        return Kind.RECORD if isinstance(target, dict) and target.get("type") in RECORD_TYPES else Kind.SCALAR
    if isinstance(schema, list):
        shape: Shape = Kind.SCALAR
        for branch in schema:
            shape = _merge(shape, _shape(branch, named))
        return shape
    kind = schema.get("type")
    if kind in RECORD_TYPES:
        return Kind.RECORD
    if kind == "array":
        return _shape(schema["items"], named)
    if kind == "map":
        return MapOf(_shape(schema["values"], named))
    return Kind.SCALAR


def _merge(a: Shape, b: Shape) -> Shape:
    if a is Kind.SCALAR:
        return b
    if b is Kind.SCALAR or a == b:
        return a
    return Kind.AMBIGUOUS
