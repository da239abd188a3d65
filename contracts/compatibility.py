"""Whether a new version of a contract may be registered: a pure function over schemas.

Modes follow Confluent Schema Registry. BACKWARD: the new schema can read data written with the
latest earlier version (TRANSITIVE: with every earlier version). FORWARD: the latest (every)
earlier version can read data written with the new schema. FULL: both. NONE: no check.

OneDoor defaults to FULL_TRANSITIVE (see ``registry.service``): a sender and its recipients
upgrade independently, so any version may meet data from any other.

Expected outcomes are returned, never raised: ``CompatibilityResult.compatible`` is False and
``problems`` says which field, in which direction, against which version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import Schema

from contracts.explain import explain
from contracts.parsing import SchemaSource, parse_avro


class CompatibilityMode(StrEnum):
    """Which earlier versions a new version is checked against, and in which direction."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        """Checked against every earlier version, not only the latest."""
        return self.value.endswith("_TRANSITIVE")

    @property
    def directions(self) -> tuple[Direction, ...]:
        """The directions this mode checks."""
        base = self.value.removesuffix("_TRANSITIVE")
        return {
            "NONE": (),
            "BACKWARD": (Direction.BACKWARD,),
            "FORWARD": (Direction.FORWARD,),
            "FULL": (Direction.BACKWARD, Direction.FORWARD),
        }[base]


class Direction(StrEnum):
    """Who reads whose data."""

    BACKWARD = "backward"
    """The new schema reads data written with an earlier version."""
    FORWARD = "forward"
    """An earlier version reads data written with the new schema."""


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason the new schema is not compatible with one earlier version."""

    version: int
    """The earlier version compared against."""
    direction: Direction
    """Which side could not read the other."""
    path: str
    """The field at fault, e.g. ``exploitation.nrm_status``; empty for the record itself."""
    kind: str
    """Avro's name for the problem, e.g. ``reader_field_missing_default_value``."""
    message: str
    """A sentence for a person, naming the field and the version."""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class CompatibilityResult:
    """The outcome of checking a new schema against the earlier versions of its contract."""

    compatible: bool
    mode: CompatibilityMode
    problems: tuple[Incompatibility, ...] = ()
    checked_versions: tuple[int, ...] = ()
    """The earlier versions compared against, newest first."""

    @property
    def messages(self) -> tuple[str, ...]:
        """Each problem as a sentence."""
        return tuple(p.message for p in self.problems)


NEW_SCHEMA = "the new schema"


def check_compatibility(
    new: SchemaSource, earlier: Iterable[tuple[int, SchemaSource]], mode: CompatibilityMode
) -> CompatibilityResult:
    """Check ``new`` against ``earlier`` ``(version, schema)`` pairs under ``mode``.

    Raises:
        ValidationFailed: ``contract.invalid_schema`` if a schema does not parse (not an
            expected outcome: callers validate schemas before they compare them).
    """
    versions = sorted(earlier, key=lambda pair: pair[0], reverse=True)
    targets = versions if mode.transitive else versions[:1]
    if not mode.directions or not targets:
        return CompatibilityResult(True, mode)
    new_schema = parse_avro(new)
    problems: list[Incompatibility] = []
    for version, schema in targets:
        old_schema = parse_avro(schema)
        for direction in mode.directions:
            problems.extend(_problems(new_schema, old_schema, version, direction))
    return CompatibilityResult(
        compatible=not problems,
        mode=mode,
        problems=tuple(problems),
        checked_versions=tuple(v for v, _ in targets),
    )


def can_read(reader: SchemaSource, writer: SchemaSource) -> bool:
    """Whether data written with ``writer`` can be read with ``reader`` (Avro resolution)."""
    return _verdict(parse_avro(reader), parse_avro(writer))


def _problems(new: Schema, old: Schema, version: int, direction: Direction) -> list[Incompatibility]:
    old_label = f"version {version}"
    if direction is Direction.BACKWARD:
        reader, writer, reader_label, writer_label = new, old, NEW_SCHEMA, old_label
    else:
        reader, writer, reader_label, writer_label = old, new, old_label, NEW_SCHEMA
    # The avro checker is the authority on the verdict; ``explain`` only says where and why.
    if _verdict(reader, writer):
        return []
    lead = f"{reader_label.capitalize()} cannot read data written by {writer_label}"
    findings = explain(reader, writer)
    if not findings:
        # Both walk Avro's rules, so this should not happen; never report "incompatible"
        # without a reason, though.
        return [Incompatibility(version, direction, "", "incompatible", f"{lead}.")]
    return [
        Incompatibility(
            version=version,
            direction=direction,
            path=f.path,
            kind=f.kind.value,
            message=f"{lead}: {f.sentence(reader_label, writer_label)}.",
        )
        for f in findings
    ]


def _verdict(reader: Schema, writer: Schema) -> bool:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro lacks "-> None"
    result = checker.get_compatibility(reader, writer)
    return result.compatibility is SchemaCompatibilityType.compatible
