"""Pydantic in/out models of consent records and emergency overrides.

Every field that could carry a name or a case note is a code or a pattern: a record says
*which* ground, *who* by login or staff number, and *where* the reasoning is (an opaque
reference to the agency's own case record); never *what* happened. Each malformed field is
refused with its own stable code (``consent.invalid_status``, ``consent.invalid_staff_id`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Final, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from consent.subject import ConsentStatus
from hub.agencies.schemas import AgencyIdField
from hub.consents.enums import NotSoughtGround, OverrideGround, RecordedStatus
from onedoor.errors import ValidationFailed
from onedoor.ids import SubjectToken

if TYPE_CHECKING:
    from hub.consents.models import ConsentOverride, ConsentRecord

STAFF_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{2,63}")
"""A login or staff number (3 to 64 characters, no spaces): who recorded or reviewed, never a name."""
REFERENCE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}")
"""An opaque reference to the agency's own case record (1 to 64 characters, no spaces)."""

INVALID_STATUS: Final = "consent.invalid_status"
INVALID_JUSTIFICATION: Final = "consent.invalid_justification"
INVALID_STAFF_ID: Final = "consent.invalid_staff_id"
INVALID_REFERENCE: Final = "consent.invalid_reference"

_E = TypeVar("_E", bound=StrEnum)


def _pattern_parser(pattern: re.Pattern[str], code: str, what: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            # The value is never echoed: it might be a name typed into the wrong field.
            raise PydanticCustomError(code, f"not a valid {what}")
        return value

    return parse


def _enum_parser(cls: type[_E], code: str, what: str) -> Callable[[object], _E]:
    values = frozenset(m.value for m in cls)
    allowed = ", ".join(m.value for m in cls)

    def parse(value: object) -> _E:
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value in values:
            return cls(value)
        raise PydanticCustomError(code, f"not a valid {what}; one of: {allowed}")

    return parse


def _token(value: object) -> SubjectToken:
    if not isinstance(value, str):
        raise PydanticCustomError("subject_token.invalid", "a subject token is a string")
    try:
        return SubjectToken(value)
    except ValidationFailed:
        raise PydanticCustomError("subject_token.invalid", "not a valid subject token (st1_...)") from None


def _text_schema(pattern: re.Pattern[str], description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^{pattern.pattern}$", "description": description})


def _enum_schema(cls: type[StrEnum]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": [m.value for m in cls]})


SubjectTokenField = Annotated[
    SubjectToken,
    PlainValidator(_token, json_schema_input_type=str),
    PlainSerializer(str, return_type=str),
    _text_schema(SubjectToken.pattern, "The young person's opaque subject token; never a name."),
]
"""A ``SubjectToken`` in a path or body; refused as ``subject_token.invalid``."""
StaffId = Annotated[
    str,
    PlainValidator(_pattern_parser(STAFF_ID, INVALID_STAFF_ID, "login or staff number"), json_schema_input_type=str),
    _text_schema(STAFF_ID, "A login or staff number, not a name."),
]
CaseReference = Annotated[
    str,
    PlainValidator(_pattern_parser(REFERENCE, INVALID_REFERENCE, "case reference"), json_schema_input_type=str),
    _text_schema(REFERENCE, "An opaque reference to the agency's own case record; no spaces, no free text."),
]
StatusField = Annotated[
    RecordedStatus,
    PlainValidator(_enum_parser(RecordedStatus, INVALID_STATUS, "consent status"), json_schema_input_type=str),
    PlainSerializer(str, return_type=str),
    _enum_schema(RecordedStatus),
]
NotSoughtField = Annotated[
    NotSoughtGround,
    PlainValidator(
        _enum_parser(NotSoughtGround, INVALID_JUSTIFICATION, "ground for not seeking consent"),
        json_schema_input_type=str,
    ),
    PlainSerializer(str, return_type=str),
    _enum_schema(NotSoughtGround),
]
OverrideGroundField = Annotated[
    OverrideGround,
    PlainValidator(
        _enum_parser(OverrideGround, INVALID_JUSTIFICATION, "ground for an emergency override"),
        json_schema_input_type=str,
    ),
    PlainSerializer(str, return_type=str),
    _enum_schema(OverrideGround),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentIn(_Strict):
    """Record a consent status for a young person; the hub's clock dates it."""

    status: StatusField
    """``given``, ``refused``, ``withdrawn`` or ``not-sought-risk``."""
    agency_id: AgencyIdField
    """The recording agency: the caller's own."""
    recorded_by: StaffId
    """The practitioner's login or staff number, not a name."""
    justification: NotSoughtField | None = None
    """Required for ``not-sought-risk``, refused otherwise: a ground of DPA 2018 Sch. 1 para 18(2), Sch. 8 para 4(2)."""
    reference: CaseReference | None = None
    """Optional: where the reasoning is in the agency's own system."""


class OverrideIn(_Strict):
    """Record an emergency override of a refusal or withdrawal; it applies once a second person reviews it."""

    agency_id: AgencyIdField
    recorded_by: StaffId
    justification: OverrideGroundField
    reference: CaseReference | None = None
    starts_at: AwareDatetime | None = None
    """Default: now. Not in the past (beyond a few minutes' clock skew)."""
    expires_at: AwareDatetime
    """After ``starts_at``, and at most 72 hours after it."""


class ReviewIn(_Strict):
    """The second person's review of an emergency override."""

    reviewed_by: StaffId
    """A login or staff number; not the one who recorded the override (case-insensitive)."""


class ConsentRecordOut(BaseModel):
    """One recorded status. ``recorded_by`` and ``reference`` are shown to the recording agency and auditors only."""

    id: int
    status: RecordedStatus
    agency_id: str
    recorded_at: datetime
    recorded_by: str | None
    justification: NotSoughtGround | None
    reference: str | None

    @classmethod
    def from_model(cls, row: ConsentRecord, *, full: bool) -> Self:
        """Render a record; without ``full``, who recorded it and the case reference are left out."""
        return cls(
            id=row.id,
            status=row.status,
            agency_id=row.agency_id,
            recorded_at=row.recorded_at,
            recorded_by=row.recorded_by if full else None,
            justification=row.justification,
            reference=row.reference if full else None,
        )


class OverrideOut(BaseModel):
    """One emergency override. People and the case reference are shown to its agency and auditors only."""

    id: int
    agency_id: str
    recorded_at: datetime
    starts_at: datetime
    expires_at: datetime
    justification: OverrideGround
    reviewed: bool
    """Only a reviewed override is given to the consent engine."""
    reviewed_at: datetime | None
    recorded_by: str | None
    reviewed_by: str | None
    reference: str | None

    @classmethod
    def from_model(cls, row: ConsentOverride, *, full: bool) -> Self:
        """Render an override; without ``full``, people and the case reference are left out."""
        return cls(
            id=row.id,
            agency_id=row.agency_id,
            recorded_at=row.recorded_at,
            starts_at=row.starts_at,
            expires_at=row.expires_at,
            justification=row.justification,
            reviewed=row.reviewed_by is not None,
            reviewed_at=row.reviewed_at,
            recorded_by=row.recorded_by if full else None,
            reviewed_by=row.reviewed_by if full else None,
            reference=row.reference if full else None,
        )


class ConsentStateOut(BaseModel):
    """The consent state the engine is given for this subject token now."""

    status: ConsentStatus
    """The latest record's status, or ``not-recorded``."""
    record: ConsentRecordOut | None
    """The latest record, which sets ``status``."""
    override: OverrideOut | None
    """The reviewed emergency override given to the engine, if any; it matters for ``refused`` and ``withdrawn``."""


class ConsentOut(BaseModel):
    """A young person's consent state and the history the caller may see, oldest first."""

    subject_token: str
    state: ConsentStateOut
    records: list[ConsentRecordOut]
    overrides: list[OverrideOut]
