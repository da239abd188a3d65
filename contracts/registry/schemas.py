"""The registry API's in/out models."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.compatibility import CompatibilityMode, Direction
from contracts.sensitivity import Sensitivity

_EXAMPLE_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Acknowledgement",
        "namespace": "onedoor.ack",
        "doc": "A recipient's reply to a message.",
        "fields": [
            {
                "name": "of_message_id",
                "type": "string",
                "doc": "The message acknowledged.",
                "sensitivity": "operational",
            },
        ],
    }
)
_EXAMPLE_FINGERPRINT = "56ef048dc70602cd80e13bf35db384f9dfb49cebee811c04f21fe322038b516e"
_EXAMPLE_DIGEST = "9457c1894dc103d0b2b775f2e5264ef1246de5b8a08d945552e80b3837466830"


class SchemaIn(BaseModel):
    """An Avro schema to register or to check, as JSON text (or a JSON object)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={"examples": [{"schema": _EXAMPLE_SCHEMA, "compatibility": "FULL_TRANSITIVE"}]},
    )

    avro_schema: str = Field(alias="schema", min_length=2, max_length=1_000_000)
    """The schema. Every field needs a ``sensitivity`` tag."""
    compatibility: CompatibilityMode | None = None
    """Mode for a new contract (default FULL_TRANSITIVE); an existing contract keeps its own."""

    @field_validator("avro_schema", mode="before")
    @classmethod
    def _object_to_text(cls, value: Any) -> Any:
        # Accept {"schema": {...}} as well as Confluent's {"schema": "<json text>"}.
        return json.dumps(value) if isinstance(value, dict) else value


class ModeIn(BaseModel):
    """A new compatibility mode for a contract."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"compatibility": "FULL_TRANSITIVE"}]})

    compatibility: CompatibilityMode


class ContractVersionOut(BaseModel):
    """One registered version of a contract."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "onedoor.ack.Acknowledgement",
                    "version": 1,
                    "fingerprint": _EXAMPLE_FINGERPRINT,
                    "digest": _EXAMPLE_DIGEST,
                    "tags": {"of_message_id": "operational"},
                    "schema": _EXAMPLE_SCHEMA,
                    "created_at": "2025-01-06T09:30:00Z",
                }
            ]
        },
    )

    name: str
    version: int
    fingerprint: str
    """SHA-256 of the schema's Parsing Canonical Form (hex)."""
    digest: str
    """SHA-256 of the schema without docs (hex); differs from the fingerprint's on tag changes."""
    tags: dict[str, Sensitivity]
    avro_schema: str = Field(alias="schema")
    created_at: datetime


class SensitiveFieldOut(BaseModel):
    """A sensitive field that a version adds, or re-tags, relative to the version before it."""

    path: str
    tag: Sensitivity


class RegistrationOut(ContractVersionOut):
    """The version a registration produced, or found."""

    created: bool
    """False when this schema was already registered: registering is idempotent."""
    sensitive_additions: list[SensitiveFieldOut] = []
    """Fields tagged other than ``operational`` that the previous version lacks or tags otherwise."""
    sharing_note: str | None = None
    """When there are any: they are not shared under existing agreements until those are amended."""


class ContractOut(BaseModel):
    """A contract and its version numbers."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "onedoor.referral.MasterReferral",
                    "compatibility": "FULL_TRANSITIVE",
                    "versions": [1, 2],
                    "latest_version": 2,
                    "created_at": "2025-01-06T09:30:00Z",
                }
            ]
        }
    )

    name: str
    compatibility: CompatibilityMode
    versions: list[int]
    latest_version: int | None
    created_at: datetime


class IncompatibilityOut(BaseModel):
    """One reason a schema is not compatible with one earlier version."""

    version: int
    direction: Direction
    path: str
    kind: str
    message: str


class CompatibilityOut(BaseModel):
    """The outcome of a dry-run compatibility check."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "compatible": False,
                    "compatibility": "FULL_TRANSITIVE",
                    "checked_versions": [1],
                    "already_registered_as": None,
                    "problems": [
                        {
                            "version": 1,
                            "direction": "backward",
                            "path": "child.pronouns",
                            "kind": "reader_field_missing_default_value",
                            "message": "The new schema cannot read data written by version 1: field "
                            "'child.pronouns' has no default in the new schema, and version 1 "
                            "does not write it.",
                        }
                    ],
                }
            ]
        }
    )

    compatible: bool
    compatibility: CompatibilityMode
    checked_versions: list[int]
    """Earlier versions compared against, newest first."""
    already_registered_as: int | None
    """The version this exact schema already is, if any (registering it again changes nothing)."""
    problems: list[IncompatibilityOut]
