"""Sensitivity tags: every field of every contract says what kind of personal data it holds.

Tags drive who may see a field (full or limited access per role) and which fields a sender
encrypts for which recipient, so an untagged or mistyped field is refused rather than guessed.

Field paths join field names with dots and pass through unions, arrays and maps, so the
postcode of ``child.home_address`` (an optional record) is ``child.home_address.postcode`` and
the reporting time of each item of ``exploitation.recent_missing_episodes`` is
``exploitation.recent_missing_episodes.reported_at``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

from contracts.parsing import SchemaSource, parse_fastavro
from onedoor.errors import ValidationFailed

TAG_ATTRIBUTE = "sensitivity"
UNTAGGED_FIELD = "contract.untagged_field"
UNKNOWN_TAG = "contract.unknown_tag"
CONFLICTING_TAGS = "contract.conflicting_tags"


class Sensitivity(StrEnum):
    """What kind of data a field holds."""

    IDENTITY = "identity"
    """Names, dates of birth, NHS numbers, case references: who a person is."""
    CONTACT = "contact"
    """Phone numbers, email addresses, names of people to contact."""
    LOCATION = "location"
    """Addresses, schools, places found: where a person is or was."""
    SAFEGUARDING = "safeguarding"
    """Concerns, risk, care status, exploitation indicators, NRM decisions."""
    HEALTH = "health"
    """Physical or mental health, disability, substance use (UK GDPR Art. 9)."""
    CRIMINAL_INTELLIGENCE = "criminal-intelligence"
    """Offences, associates, deal lines, police references (law-enforcement processing)."""
    DEMOGRAPHIC = "demographic"
    """Gender, ethnicity, language, education status: also used for analytics."""
    OPERATIONAL = "operational"
    """Ids, timestamps, statuses, codes: what the exchange itself needs."""


def field_tags(schema: SchemaSource) -> dict[str, Sensitivity]:
    """Map every field path of ``schema`` to its tag, in schema order.

    Raises:
        ValidationFailed: ``contract.unknown_tag`` if a tag is not one of the eight, else
            ``contract.untagged_field`` if a field has no tag, else ``contract.conflicting_tags``
            if one path is tagged differently in two union branches; the message names the fields.
    """
    tags: dict[str, Sensitivity] = {}
    untagged: list[str] = []
    unknown: list[str] = []
    conflicting: list[str] = []
    parsed = parse_fastavro(schema)
    for path, field in _fields(parsed, parsed.get("__named_schemas", {}), "", ()):
        raw = field.get(TAG_ATTRIBUTE)
        if raw is None:
            untagged.append(path)
        elif raw not in _VALUES:
            unknown.append(f"{path} ({raw!r:.40})")
        elif tags.setdefault(path, Sensitivity(raw)) != raw:
            # Two union branches reach the same path: one path must mean one kind of data,
            # or a sharing agreement could not say whether it may be shared.
            conflicting.append(f"{path} ({tags[path].value} / {raw})")
    if unknown:
        raise ValidationFailed(UNKNOWN_TAG, f"unknown sensitivity tag on field(s): {', '.join(unknown)}")
    if untagged:
        raise ValidationFailed(UNTAGGED_FIELD, f"field(s) without a sensitivity tag: {', '.join(untagged)}")
    if conflicting:
        raise ValidationFailed(CONFLICTING_TAGS, f"field(s) tagged differently in two places: {', '.join(conflicting)}")
    return tags


_VALUES = frozenset(s.value for s in Sensitivity)


def _fields(
    schema: Any, named: Mapping[str, Any], prefix: str, seen: tuple[str, ...]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield ``(path, field)`` for every field reachable from ``schema``."""
    if isinstance(schema, str):
        # A reference to a named type defined earlier: expand it here too, because each use is
        # a different field path with its own access rules. ``seen`` stops recursive types.
        if schema in named and schema not in seen:
            yield from _fields(named[schema], named, prefix, seen)
        return
    if isinstance(schema, list):
        for branch in schema:
            yield from _fields(branch, named, prefix, seen)
        return
    kind = schema.get("type")
    if kind == "record":
        inner = (*seen, schema["name"])
        for field in schema["fields"]:
            path = f"{prefix}.{field['name']}" if prefix else field["name"]
            yield path, field
            yield from _fields(field["type"], named, path, inner)
    elif kind == "array":
        yield from _fields(schema["items"], named, prefix, seen)
    elif kind == "map":
        yield from _fields(schema["values"], named, prefix, seen)
