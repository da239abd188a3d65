"""The status check's contracts, purpose and flags, and the bodies written with them.

``StatusCheck`` carries the young person's identity tokens and the requester's deadlines,
nothing else; ``StatusReply`` carries one ``StatusMatch`` per matching record (an empty list
is "no record found"). The reply is decided under ``Action.QUERY`` at both connectors and at
the hub (``consent.actions``), so an agreement decides what an agency may answer
separately from what it may send; fields it does not allow are simply absent from the body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from connectors.identity import IdentityTokens
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, ContractName, Purpose

STATUS_CHECK: Final = ContractName("onedoor.status.StatusCheck")
STATUS_REPLY: Final = ContractName("onedoor.status.StatusReply")
CONTRACT_VERSION: Final = 1
"""The version of both contracts this package writes."""
VICTIM_IDENTIFICATION: Final = Purpose("victim-identification")


class StatusFlag(StrEnum):
    """A status a practitioner would act on (the ``StatusFlag`` enum of ``onedoor.status.StatusReply``)."""

    KNOWN_EXPLOITATION_VICTIM = "KNOWN_EXPLOITATION_VICTIM"
    SUSPECTED_EXPLOITATION_VICTIM = "SUSPECTED_EXPLOITATION_VICTIM"
    CHILD_PROTECTION_PLAN = "CHILD_PROTECTION_PLAN"
    CHILD_IN_NEED = "CHILD_IN_NEED"
    LOOKED_AFTER = "LOOKED_AFTER"
    CURRENTLY_MISSING = "CURRENTLY_MISSING"
    RECENT_MISSING_EPISODES = "RECENT_MISSING_EPISODES"
    OTHER = "OTHER"

    @property
    def phrase(self) -> str:
        """The flag as an officer reads it."""
        return _FLAG_PHRASES[self]


_FLAG_PHRASES: Final = {
    StatusFlag.KNOWN_EXPLOITATION_VICTIM: "known exploitation victim",
    StatusFlag.SUSPECTED_EXPLOITATION_VICTIM: "suspected exploitation victim",
    StatusFlag.CHILD_PROTECTION_PLAN: "child protection plan",
    StatusFlag.CHILD_IN_NEED: "child in need",
    StatusFlag.LOOKED_AFTER: "looked-after child",
    StatusFlag.CURRENTLY_MISSING: "currently reported missing",
    StatusFlag.RECENT_MISSING_EPISODES: "recent missing episodes",
    StatusFlag.OTHER: "other status",
}


class NrmStage(StrEnum):
    """Where the young person is in the National Referral Mechanism."""

    NOT_REFERRED = "NOT_REFERRED"
    REFERRED_AWAITING_DECISION = "REFERRED_AWAITING_DECISION"
    REASONABLE_GROUNDS_POSITIVE = "REASONABLE_GROUNDS_POSITIVE"
    REASONABLE_GROUNDS_NEGATIVE = "REASONABLE_GROUNDS_NEGATIVE"
    CONCLUSIVE_GROUNDS_POSITIVE = "CONCLUSIVE_GROUNDS_POSITIVE"
    CONCLUSIVE_GROUNDS_NEGATIVE = "CONCLUSIVE_GROUNDS_NEGATIVE"
    NOT_KNOWN = "NOT_KNOWN"

    @property
    def phrase(self) -> str | None:
        """The stage as an officer reads it; ``None`` when there is nothing to say."""
        return _NRM_PHRASES.get(self)


_NRM_PHRASES: Final = {
    NrmStage.REFERRED_AWAITING_DECISION: "NRM referral awaiting decision",
    NrmStage.REASONABLE_GROUNDS_POSITIVE: "NRM reasonable grounds",
    NrmStage.REASONABLE_GROUNDS_NEGATIVE: "NRM negative reasonable grounds decision",
    NrmStage.CONCLUSIVE_GROUNDS_POSITIVE: "NRM conclusive grounds (recognised victim)",
    NrmStage.CONCLUSIVE_GROUNDS_NEGATIVE: "NRM negative conclusive grounds decision",
}


@dataclass(frozen=True, slots=True)
class LeadProfessional:
    """Who to call at the owning agency (synthetic in tests and demos)."""

    role: str
    team: str
    phone: str | None = None
    email: str | None = None

    def to_avro(self) -> dict[str, Any]:
        """The ``LeadProfessional`` record."""
        return {"role": self.role, "team": self.team, "phone": self.phone, "email": self.email}

    def describe(self) -> str:
        """``role, team, phone, email`` with what is known."""
        return ", ".join(part for part in (self.role, self.team, self.phone, self.email) if part)


@dataclass(frozen=True, slots=True)
class ReportedMatch:
    """One matching record as an answering agency reported it (only what its agreement let through)."""

    agency: AgencyId
    """The owning agency: the reply's sender."""
    record_reference: str
    """Opaque; quote it when calling the owning agency."""
    confidence: float
    agreed: tuple[str, ...]
    """Which identifiers agreed, in words an officer reads (``connectors.identity.Match.agreed``)."""
    flags: tuple[StatusFlag, ...] | None = None
    """``None`` when the agreement withheld the flags (not the same as no flags)."""
    nrm_stage: NrmStage | None = None
    missing_episodes_last_90_days: int | None = None
    case_open: bool | None = None
    lead_professional: LeadProfessional | None = None


def tokens_from_avro(items: Iterable[Mapping[str, str]]) -> IdentityTokens:
    """The identity tokens of a StatusCheck's ``tokens`` array.

    Raises:
        ValidationFailed: ``identity.invalid_tokens`` when they are not tokens.
    """
    return IdentityTokens.from_json([{"kind": item["kind"], "value": item["value"]} for item in items])


def check_body(tokens: IdentityTokens, *, soft_deadline_ms: int, hard_deadline_ms: int) -> dict[str, Any]:
    """A StatusCheck body.

    Raises:
        ValidationFailed: ``status.no_tokens`` for an empty token set, ``status.bad_deadlines``
            when the hard deadline comes before the soft one.
    """
    items = tokens.to_json()
    if not items:
        raise ValidationFailed("status.no_tokens", "a status check needs at least one identity token")
    if hard_deadline_ms < soft_deadline_ms:
        raise ValidationFailed("status.bad_deadlines", "the hard deadline must not come before the soft deadline")
    return {"tokens": items, "soft_deadline_at": _at(soft_deadline_ms), "hard_deadline_at": _at(hard_deadline_ms)}


def reply_matches(body: Mapping[str, Any], agency: AgencyId) -> list[ReportedMatch]:
    """The matches of a (possibly projected) StatusReply body from ``agency``, best first."""
    found = []
    for item in body.get("matches") or ():
        flags = item.get("flags")
        stage = item.get("nrm_stage")
        lead = item.get("lead_professional")
        found.append(
            ReportedMatch(
                agency=agency,
                record_reference=str(item.get("record_reference", "")),
                confidence=float(item.get("confidence", 0.0)),
                agreed=tuple(item.get("agreed") or ()),
                flags=None if flags is None else tuple(_flag(f) for f in flags),
                nrm_stage=None if stage is None else _stage(stage),
                missing_episodes_last_90_days=item.get("missing_episodes_last_90_days"),
                case_open=item.get("case_open"),
                lead_professional=None
                if lead is None
                else LeadProfessional(
                    role=str(lead.get("role", "")),
                    team=str(lead.get("team", "")),
                    phone=lead.get("phone"),
                    email=lead.get("email"),
                ),
            )
        )
    found.sort(key=lambda m: -m.confidence)
    return found


def readable_agreed(agreed: Sequence[str]) -> str:
    """``given name, family name, date of birth``."""
    return ", ".join(agreed)


def _flag(value: str) -> StatusFlag:
    try:
        return StatusFlag(value)
    except ValueError:
        return StatusFlag.OTHER


def _stage(value: str) -> NrmStage:
    try:
        return NrmStage(value)
    except ValueError:
        return NrmStage.NOT_KNOWN


def _at(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)
