"""What a sealed public referral holds: ``PublicReferralForm``, the one definition of its fields.

The browser builds this JSON document, seals it (``onedoor.envelope.intake``), and only the
triage desk opens it; the triage connector validates it with this model after decrypting.
The hub never sees it, except in memory on the no-JavaScript path, where it validates and
seals at once. Concern categories and urgency use the symbols of ``MasterReferral``
(``contracts/schemas/onedoor.referral.avsc``), so triage maps a form onto a referral directly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

NAME_MAX: Final = 100
KNOWN_AS_MAX: Final = 200
CONTACT_MAX: Final = 200
AREA_MAX: Final = 100
SCHOOL_MAX: Final = 150
SUMMARY_MAX: Final = 5000
AGE_MAX: Final = 25
"""Oldest age the form accepts: young people with special needs are supported up to 25."""

IDENTIFY_RULE: Final = (
    "Tell us the child's first name or last name, and at least one of: their date of birth, "
    "their age, the area they live in or their school"
)
"""The one rule for "enough to find the child", in plain English (the page and the model say the same)."""


class Relationship(StrEnum):
    """Who is filling in the form, in relation to the child."""

    FAMILY = "family"
    FRIEND = "friend"
    NEIGHBOUR = "neighbour"
    PROFESSIONAL = "professional"
    YOUNG_PERSON = "young-person"
    OTHER = "other"


RELATIONSHIP_LABELS: Final = {
    Relationship.FAMILY: "A family member",
    Relationship.FRIEND: "A friend",
    Relationship.NEIGHBOUR: "A neighbour or someone in the community",
    Relationship.PROFESSIONAL: "Someone who works with children (for example a teacher, youth worker or nurse)",
    Relationship.YOUNG_PERSON: "I am the young person",
    Relationship.OTHER: "Someone else",
}

# The MasterReferral ConcernCategory symbols, each with the words a member of the public would use.
CONCERN_LABELS: Final = {
    "CRIMINAL_EXPLOITATION": "Being made or paid to commit crimes",
    "COUNTY_LINES": "Carrying or selling drugs, maybe in another town (county lines)",
    "SEXUAL_EXPLOITATION": "Sexual abuse or exploitation",
    "MISSING": "Going missing or staying out",
    "GANG_ASSOCIATION": "Involved with a gang",
    "SERIOUS_YOUTH_VIOLENCE": "Violence, being hurt or hurting others",
    "WEAPONS": "Carrying a knife or other weapon",
    "TRAFFICKING": "Being moved around or trafficked",
    "RADICALISATION": "Being drawn into extremism",
    "ONLINE_HARM": "Harm online or through their phone",
    "NEGLECT": "Not being looked after properly",
    "DOMESTIC_ABUSE": "Domestic abuse at home",
    "SUBSTANCE_MISUSE": "Using drugs or alcohol",
    "MENTAL_HEALTH": "Their mental health",
    "OTHER": "Something else",
}
ConcernCategory = Literal[
    "CRIMINAL_EXPLOITATION",
    "COUNTY_LINES",
    "SEXUAL_EXPLOITATION",
    "MISSING",
    "GANG_ASSOCIATION",
    "SERIOUS_YOUTH_VIOLENCE",
    "WEAPONS",
    "TRAFFICKING",
    "RADICALISATION",
    "ONLINE_HARM",
    "NEGLECT",
    "DOMESTIC_ABUSE",
    "SUBSTANCE_MISUSE",
    "MENTAL_HEALTH",
    "OTHER",
]

# The MasterReferral Urgency symbols.
URGENCY_LABELS: Final = {
    "IMMEDIATE_RISK": "The child is in danger now (also call 999)",
    "SAME_DAY": "Someone needs to act today",
    "WITHIN_3_WORKING_DAYS": "In the next few days",
    "ROUTINE": "It is not urgent",
}
Urgency = Literal["IMMEDIATE_RISK", "SAME_DAY", "WITHIN_3_WORKING_DAYS", "ROUTINE"]


class ParentKnows(StrEnum):
    """Whether the child's parent or carer knows about this referral."""

    YES = "yes"
    NO = "no"
    NOT_SURE = "not-sure"


PARENT_KNOWS_LABELS: Final = {ParentKnows.YES: "Yes", ParentKnows.NO: "No", ParentKnows.NOT_SURE: "I do not know"}


def _blank_is_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


OptionalName = Annotated[Annotated[str, StringConstraints(max_length=NAME_MAX)] | None, BeforeValidator(_blank_is_none)]
OptionalKnownAs = Annotated[
    Annotated[str, StringConstraints(max_length=KNOWN_AS_MAX)] | None, BeforeValidator(_blank_is_none)
]
OptionalContact = Annotated[
    Annotated[str, StringConstraints(max_length=CONTACT_MAX)] | None, BeforeValidator(_blank_is_none)
]
OptionalArea = Annotated[Annotated[str, StringConstraints(max_length=AREA_MAX)] | None, BeforeValidator(_blank_is_none)]
OptionalSchool = Annotated[
    Annotated[str, StringConstraints(max_length=SCHOOL_MAX)] | None, BeforeValidator(_blank_is_none)
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Referrer(_Frozen):
    """Who is telling us; name and contact details are optional (a referral may be anonymous)."""

    relationship: Relationship
    name: OptionalName = None
    contact: OptionalContact = None
    """A phone number or email address, as typed."""


def oldest_birth_date(today: date) -> date:
    """The earliest date of birth the form accepts (``AGE_MAX`` + 1 years before ``today``)."""
    try:
        return today.replace(year=today.year - AGE_MAX - 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year - AGE_MAX - 1, day=28)


class Child(_Frozen):
    """The child or young person the referral is about."""

    given_name: OptionalName = None
    family_name: OptionalName = None
    known_as: OptionalKnownAs = None
    """Other names, nicknames or street names, as typed."""
    date_of_birth: date | None = None
    estimated_age: Annotated[int | None, Field(ge=0, le=AGE_MAX)] = None
    area: OptionalArea = None
    """The area or town they live in or are often seen."""
    school: OptionalSchool = None

    @model_validator(mode="after")
    def _plausible_birth_date(self) -> Self:
        today = datetime.now(UTC).date()
        if self.date_of_birth is not None and not oldest_birth_date(today) < self.date_of_birth <= today:
            raise ValueError(f"the date of birth must be in the past and at most {AGE_MAX} years ago")
        return self

    @property
    def identifiable(self) -> bool:
        """Whether triage has enough to find the child (``IDENTIFY_RULE``)."""
        named = bool(self.given_name or self.family_name)
        placed = self.date_of_birth is not None or self.estimated_age is not None or bool(self.area or self.school)
        return named and placed


class PublicReferralForm(_Frozen):
    """The sealed content of one public referral (JSON, "onedoor intake v1")."""

    v: Literal[1] = 1
    """Version of this document's layout."""
    referrer: Referrer
    child: Child
    concern_categories: Annotated[list[ConcernCategory], Field(min_length=1, max_length=len(CONCERN_LABELS))]
    concern_summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SUMMARY_MAX)]
    """What worries the referrer, in their own words."""
    urgency: Urgency
    parent_carer_knows: ParentKnows

    @model_validator(mode="after")
    def _identifiable(self) -> Self:
        if not self.child.identifiable:
            raise ValueError(IDENTIFY_RULE)
        if len(set(self.concern_categories)) != len(self.concern_categories):
            raise ValueError("each concern category at most once")
        return self
