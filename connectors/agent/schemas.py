"""What the connector's REST API takes and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from connectors.agent.notices import describe
from connectors.status import CheckNotice, Disclosure, ReportedMatch, StatusAnswer
from connectors.status.messages import LeadProfessional

MAX_TEXT = 200


class StatusCheckIn(BaseModel):
    """The young person as the officer has them. Every field but ``postcode`` is needed; a missing or
    malformed one is a 422 with an ``identity.*`` code, and the value is never echoed."""

    given_name: str | None = Field(default=None, max_length=MAX_TEXT, examples=["Jon"])
    family_name: str | None = Field(default=None, max_length=MAX_TEXT, examples=["Testwood-Fakeley"])
    date_of_birth: str | None = Field(
        default=None, max_length=32, description="YYYY-MM-DD or DD/MM/YYYY", examples=["14/03/2010"]
    )
    postcode: str | None = Field(
        default=None, max_length=16, description="A UK postcode or its district; only the district is used"
    )


class LeadProfessionalOut(BaseModel):
    """Who to call at the owning agency."""

    role: str
    team: str
    phone: str | None
    email: str | None

    @classmethod
    def of(cls, lead: LeadProfessional) -> LeadProfessionalOut:
        """From the status check's value."""
        return cls(role=lead.role, team=lead.team, phone=lead.phone, email=lead.email)


class MatchOut(BaseModel):
    """One record an agency reported, holding only what its agreement let through (absent: ``null``)."""

    agency: str
    """The owning agency."""
    record_reference: str
    """The owner's opaque reference: quote it when calling."""
    confidence: float
    agreed: list[str]
    """The identifiers that agreed, in words."""
    flags: list[str] | None
    """``null`` when the agreement withheld them (not the same as no flags)."""
    nrm_stage: str | None
    missing_episodes_last_90_days: int | None
    case_open: bool | None
    lead_professional: LeadProfessionalOut | None

    @classmethod
    def of(cls, found: ReportedMatch) -> MatchOut:
        """From the checker's match."""
        lead = found.lead_professional
        return cls(
            agency=found.agency,
            record_reference=found.record_reference,
            confidence=found.confidence,
            agreed=list(found.agreed),
            flags=None if found.flags is None else [str(flag) for flag in found.flags],
            nrm_stage=None if found.nrm_stage is None else str(found.nrm_stage),
            missing_episodes_last_90_days=found.missing_episodes_last_90_days,
            case_open=found.case_open,
            lead_professional=None if lead is None else LeadProfessionalOut.of(lead),
        )


class StatusCheckOut(BaseModel):
    """The answer by the soft deadline. ``found: false`` with agencies answering is "no record found"."""

    found: bool
    matches: list[MatchOut]
    """Best first."""
    asked: list[str]
    """Every agency asked: those whose agreements let them answer this agency."""
    answered: list[str]
    not_answered: list[str]
    """Asked, but no answer by the soft deadline."""
    elapsed_ms: float
    text: str
    """The answer as an officer reads it."""

    @classmethod
    def of(cls, answer: StatusAnswer) -> StatusCheckOut:
        """From the checker's answer."""
        return cls(
            found=answer.found,
            matches=[MatchOut.of(m) for m in answer.matches],
            asked=list(answer.asked),
            answered=list(answer.answered),
            not_answered=list(answer.not_answered),
            elapsed_ms=round(answer.elapsed_ms, 1),
            text=answer.describe(),
        )


class DisclosureOut(BaseModel):
    """One disclosure of the record."""

    requester: str
    """The agency told."""
    purpose: str
    at: datetime
    message_id: str
    """The status check answered."""


class DisclosuresOut(BaseModel):
    """Every disclosure of one record, oldest first: for a subject access request."""

    record_ref: str
    disclosures: list[DisclosureOut]

    @classmethod
    def of(cls, record_ref: str, found: list[Disclosure]) -> DisclosuresOut:
        """From the disclosure log's rows."""
        return cls(
            record_ref=record_ref,
            disclosures=[
                DisclosureOut(requester=d.requester, purpose=d.purpose, at=d.at, message_id=d.message_id) for d in found
            ],
        )


class NoticeOut(BaseModel):
    """One owner notice."""

    record_ref: str
    requester: str
    purpose: str
    at: datetime
    message_id: str
    confidence: float
    fields: list[str]
    """Field paths of the reply the requester was sent."""
    text: str

    @classmethod
    def of(cls, notice: CheckNotice) -> NoticeOut:
        """From the responder's notice."""
        return cls(
            record_ref=notice.record_ref,
            requester=notice.requester,
            purpose=notice.purpose,
            at=notice.at,
            message_id=notice.message_id,
            confidence=notice.confidence,
            fields=sorted(notice.fields),
            text=describe(notice),
        )


class NoticesOut(BaseModel):
    """Recent owner notices, newest first (kept in memory since the connector started)."""

    notifications: list[NoticeOut]


class HealthOut(BaseModel):
    """Liveness: whether the connector still reads its inbox."""

    status: str
    problems: list[str] = []
    """When unavailable: ``connector.inbox_stopped``, ``intake.key_mismatch``."""
