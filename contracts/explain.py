"""Say *where* and *why* a reader schema cannot read a writer schema.

``avro.compatibility.ReaderWriterCompatibilityChecker`` gives the verdict, but its result keeps
messages and locations as two unpaired sets of JSON-pointer indices, and an incompatible field
inside an optional record surfaces only as "reader union lacking writer type". This walk follows
Avro's resolution rules through records, unions, arrays and maps so each finding names its
field path (as ``contracts.sensitivity`` spells it), and asks the checker only about the leaves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
    lookup_writer_field,
    schema_name_equals,
)
from avro.schema import (
    ArraySchema,
    EnumSchema,
    FixedSchema,
    MapSchema,
    NamedSchema,
    RecordSchema,
    Schema,
    UnionSchema,
)

Kind = SchemaIncompatibilityType


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a reader cannot read what a writer writes."""

    path: str
    """Field path, e.g. ``child.date_of_birth``; empty for the top-level record."""
    kind: Kind
    """Avro's name for the problem."""
    reader_type: str
    """The reader's type at ``path``, as a person would write it."""
    writer_type: str
    """The writer's type at ``path``."""
    symbols: tuple[str, ...] = ()
    """Enum symbols the writer may send that the reader does not know."""

    def sentence(self, reader: str, writer: str) -> str:
        """The finding as a sentence, with ``reader``/``writer`` naming the two versions."""
        where = f"field '{self.path}'" if self.path else "the record"
        if self.kind is Kind.reader_field_missing_default_value:
            return f"{where} has no default in {reader}, and {writer} does not write it"
        if self.kind is Kind.missing_enum_symbols:
            return (
                f"{where}: {reader} does not know symbol(s) {', '.join(self.symbols)} that {writer} "
                f"may write, and its enum {self.reader_type} has no default"
            )
        if self.kind is Kind.name_mismatch:
            return f"{where} is {self.reader_type} in {reader} but {self.writer_type} in {writer}"
        if self.kind is Kind.missing_union_branch:
            return f"{where}: {reader} has no union branch for {self.writer_type} written by {writer}"
        if self.kind is Kind.fixed_size_mismatch:
            return f"{where} is {self.reader_type} in {reader} but {self.writer_type} in {writer}"
        return (
            f"{where} is {self.reader_type} in {reader} but {self.writer_type} in {writer}, "
            "and the writer's type cannot be promoted to the reader's"
        )


def explain(reader: Schema, writer: Schema) -> list[Finding]:
    """Every reason ``reader`` cannot read data written with ``writer``, in schema order."""
    walk = _Walk(ReaderWriterCompatibilityChecker())  # type: ignore[no-untyped-call]  # avro's __init__ lacks "-> None"
    unique: dict[Finding, None] = dict.fromkeys(walk.visit(reader, writer, ""))
    return list(unique)


def describe(schema: Schema) -> str:
    """A type as a person would write it: ``int (date)``, ``onedoor.referral.Gender`` ..."""
    if isinstance(schema, FixedSchema):
        return f"{schema.fullname} (fixed {schema.size})"
    if isinstance(schema, NamedSchema):
        return str(schema.fullname)
    if isinstance(schema, UnionSchema):
        return "union of " + " | ".join(describe(s) for s in schema.schemas)
    if isinstance(schema, ArraySchema):
        return f"array of {describe(schema.items)}"
    if isinstance(schema, MapSchema):
        return f"map of {describe(schema.values)}"
    logical = schema.props.get("logicalType")
    return f"{schema.type} ({logical})" if logical else str(schema.type)


class _Walk:
    def __init__(self, checker: ReaderWriterCompatibilityChecker) -> None:
        self._checker = checker
        # Pairs of named types being visited: recursive types must not loop.
        self._active: set[tuple[int, int]] = set()

    def visit(self, reader: Schema, writer: Schema, path: str) -> Iterator[Finding]:
        if isinstance(writer, UnionSchema):
            yield from self._writer_union(reader, writer, path)
        elif isinstance(reader, UnionSchema):
            branch = self._branch_for(reader, writer)
            if branch is None:
                yield self._finding(path, Kind.missing_union_branch, reader, writer)
            else:
                yield from self.visit(branch, writer, path)
        elif isinstance(reader, RecordSchema) and isinstance(writer, RecordSchema):
            yield from self._records(reader, writer, path)
        elif isinstance(reader, ArraySchema) and isinstance(writer, ArraySchema):
            yield from self.visit(reader.items, writer.items, path)
        elif isinstance(reader, MapSchema) and isinstance(writer, MapSchema):
            yield from self.visit(reader.values, writer.values, path)
        else:
            yield from self._leaf(reader, writer, path)

    def _writer_union(self, reader: Schema, writer: UnionSchema, path: str) -> Iterator[Finding]:
        # Every branch the writer may pick must be readable.
        for branch in writer.schemas:
            yield from self.visit(reader, branch, path)

    def _records(self, reader: RecordSchema, writer: RecordSchema, path: str) -> Iterator[Finding]:
        if not schema_name_equals(reader, writer):
            yield self._finding(path, Kind.name_mismatch, reader, writer)
            return
        key = (id(reader), id(writer))
        if key in self._active:
            return
        self._active.add(key)
        try:
            for field in reader.fields:
                sub = f"{path}.{field.name}" if path else field.name
                written = lookup_writer_field(writer_schema=writer, reader_field=field)
                if written is not None:
                    yield from self.visit(field.type, written.type, sub)
                elif not field.has_default:
                    yield self._finding(sub, Kind.reader_field_missing_default_value, field.type, writer)
        finally:
            self._active.discard(key)

    def _leaf(self, reader: Schema, writer: Schema, path: str) -> Iterator[Finding]:
        result = self._checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.incompatible:
            return
        for kind in dict.fromkeys(result.incompatibilities):
            symbols: tuple[str, ...] = ()
            if isinstance(reader, EnumSchema) and isinstance(writer, EnumSchema):
                symbols = tuple(s for s in writer.symbols if s not in set(reader.symbols))
            yield self._finding(path, kind, reader, writer, symbols)

    def _branch_for(self, reader: UnionSchema, writer: Schema) -> Schema | None:
        """The reader branch Avro resolution would pick for ``writer`` (spec: first match)."""
        branches: list[Schema] = reader.schemas
        for branch in branches:
            if branch.type == writer.type and (
                not isinstance(branch, NamedSchema)
                or (isinstance(writer, NamedSchema) and schema_name_equals(branch, writer))
            ):
                return branch
        for branch in branches:
            verdict = self._checker.get_compatibility(branch, writer).compatibility
            if verdict is SchemaCompatibilityType.compatible:
                return branch
        return None

    @staticmethod
    def _finding(path: str, kind: Kind, reader: Schema, writer: Schema, symbols: tuple[str, ...] = ()) -> Finding:
        return Finding(path, kind, describe(reader), describe(writer), symbols)
