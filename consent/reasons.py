"""Why a decision came out as it did: stable codes, each with a sentence an agency admin understands.

Codes appear in decisions, dead letters, audit records and ``onedoor agreement explain``.
Never rename one; add a new one. A reason never carries personal data: its ``detail`` names
data classes, schema field paths or times, never a young person.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from consent.ids import AgreementId


class ReasonCode(StrEnum):
    """Stable reason codes of the decision engine."""

    # Why nothing may flow under an agreement.
    AGREEMENT_NONE = "agreement.none"
    SAME_PARTY = "agreement.same_party"
    NOT_ACTIVE = "agreement.not_active"
    SUSPENDED = "agreement.suspended"
    REVOKED = "agreement.revoked"
    EXPIRED = "agreement.expired"
    NOT_YET_VALID = "agreement.not_yet_valid"
    CONTRACT_NOT_COVERED = "contract.not_covered"
    PURPOSE_NOT_AGREED = "purpose.not_agreed"
    PROVISION_DENIED = "provision.denied"
    NOTHING_PERMITTED = "provision.none"
    # What a permit rests on, and what it leaves out.
    PERMITTED = "agreement.permits"
    WITHHELD = "fields.withheld"
    NOT_APPROVED = "fields.not_approved"
    REVIEW_OVERDUE = "agreement.review_overdue"
    # The young person's consent.
    CONSENT_GIVEN = "consent.given"
    CONSENT_NOT_RECORDED = "consent.not_recorded"
    CONSENT_NOT_SOUGHT_RISK = "consent.not_sought_risk"
    CONSENT_OVERRIDDEN = "consent.overridden"
    CONSENT_REQUIRED = "consent.required"
    CONSENT_REFUSED = "consent.refused"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    OVERRIDE_EXPIRED = "override.expired"
    OVERRIDE_NOT_YET_VALID = "override.not_yet_valid"
    OVERRIDE_SUPERSEDED = "override.superseded"
    OVERRIDE_NOT_APPLICABLE = "override.not_applicable"

    @property
    def sentence(self) -> str:
        """What the code means, for an agency admin."""
        return SENTENCES[self]


SENTENCES: Final[dict[ReasonCode, str]] = {
    ReasonCode.AGREEMENT_NONE: "No active sharing agreement covers these two agencies for this exchange.",
    ReasonCode.SAME_PARTY: (
        "Both agencies belong to the same party of this agreement (a group): it covers sharing between "
        "its parties, not within one."
    ),
    ReasonCode.NOT_ACTIVE: (
        "The agreement is not active yet: it is a draft, or still waiting for every party to approve it."
    ),
    ReasonCode.SUSPENDED: "The agreement is suspended: nothing is shared under it until it is reinstated.",
    ReasonCode.REVOKED: "The agreement has been revoked: nothing more is shared under it.",
    ReasonCode.EXPIRED: "The agreement has expired: it must be renewed before anything more is shared under it.",
    ReasonCode.NOT_YET_VALID: "The agreement has not started yet.",
    ReasonCode.CONTRACT_NOT_COVERED: "The agreement does not cover this kind of message (contract).",
    ReasonCode.PURPOSE_NOT_AGREED: "The agreement does not cover the purpose this message is sent for.",
    ReasonCode.PROVISION_DENIED: "A provision of the agreement denies this data to this recipient.",
    ReasonCode.NOTHING_PERMITTED: (
        "No provision of the agreement permits any of this message's data to this recipient for this purpose."
    ),
    ReasonCode.PERMITTED: "The agreement permits this data to this recipient for this purpose.",
    ReasonCode.WITHHELD: "Part of the message is withheld: the agreement does not permit that data to this recipient.",
    ReasonCode.NOT_APPROVED: (
        "Fields added to the contract after the agreement was approved are withheld until the agreement "
        "is amended and re-approved."
    ),
    ReasonCode.REVIEW_OVERDUE: "The agreement is past its review date: the parties should review it.",
    ReasonCode.CONSENT_GIVEN: "Consent to share was given.",
    ReasonCode.CONSENT_NOT_RECORDED: (
        "No consent decision is recorded for this young person. Sharing goes ahead because the agreement's "
        "lawful basis does not rest on consent; record consent, or why it was not sought."
    ),
    ReasonCode.CONSENT_NOT_SOUGHT_RISK: (
        "Consent was not sought because seeking it would put the child at risk (the justification is "
        "recorded); the agreement's lawful basis does not rest on consent."
    ),
    ReasonCode.CONSENT_OVERRIDDEN: (
        "Consent was refused or withdrawn, but an emergency override, reviewed by a second person, is in force."
    ),
    ReasonCode.CONSENT_REQUIRED: "The agreement's lawful basis is consent, and consent to share has not been given.",
    ReasonCode.CONSENT_REFUSED: "Consent to share was refused, and nothing overrides the refusal.",
    ReasonCode.CONSENT_WITHDRAWN: "Consent to share was withdrawn: nothing new is shared about this young person.",
    ReasonCode.OVERRIDE_EXPIRED: "An emergency override was recorded, but it has expired.",
    ReasonCode.OVERRIDE_NOT_YET_VALID: "An emergency override is recorded, but it has not started yet.",
    ReasonCode.OVERRIDE_SUPERSEDED: (
        "An emergency override was recorded before the latest refusal or withdrawal, so it does not override it."
    ),
    ReasonCode.OVERRIDE_NOT_APPLICABLE: (
        "An emergency override cannot apply: this agreement's lawful basis is consent. Sharing without "
        "consent needs an agreement with a safeguarding basis, such as DPA 2018 Sch. 1 para 18."
    ),
}


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason in a decision."""

    code: ReasonCode
    agreement_id: AgreementId | None = None
    """The agreement it is about, if any."""
    detail: str = ""
    """Data classes, schema field paths or times it concerns; never personal data."""

    @property
    def sentence(self) -> str:
        """The code's sentence, with the agreement and detail."""
        text = self.code.sentence
        if self.detail:
            text = f"{text} ({self.detail})"
        if self.agreement_id is not None:
            text = f"{self.agreement_id}: {text}"
        return text

    def __str__(self) -> str:
        return f"{self.code}: {self.sentence}"
