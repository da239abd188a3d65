"""Sharing agreements and consent at the hub: may this envelope go to each of its recipients?

The hub cannot see which fields a body holds (the sender projected it, the recipient checks
again); it checks what the clear header claims: the sender, every recipient, the contract
and version, the purpose, the agreement the sender relies on, and the young person's consent
(by subject token). Each recipient is decided on its own by ``consent.decide``; the envelope
goes only if every recipient is permitted under the agreement the header names. A refusal
for any recipient dead-letters the whole envelope, so nothing is delivered to some and
withheld from others without the sender knowing.

Pure apart from the engine's memo: the router holds a ``RoutingPolicy`` in its tables and
swaps in a new one when the agreements or consent records change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from consent.decide import Decision, DecisionRequest, decide
from consent.index import AgreementIndex
from consent.reasons import ReasonCode
from consent.subject import ConsentState
from onedoor.ids import AgencyId, AgreementId, Purpose

NOT_RECORDED: Final = ConsentState.not_recorded()
_AGREEMENT_ID = AgreementId.pattern
_PURPOSE = Purpose.pattern


class PolicyReason(StrEnum):
    """Refusals the router gives before the engine is asked (the engine's codes follow them)."""

    MISSING = "agreement.missing"
    """The header names no agreement: every message must say which agreement it relies on."""
    UNKNOWN = "agreement.unknown"
    """The header names an agreement the hub has no record of in force or ended."""
    NOT_A_PARTY = "agreement.not_a_party"
    """The named agreement exists but does not cover the sender or a recipient."""
    PURPOSE_INVALID = "purpose.invalid"
    """The purpose in the header is not in its canonical form."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy's answer for one envelope."""

    permitted: bool
    code: StrEnum
    """The first refusal's code, or ``agreement.permits``."""
    agreement_version: int | None
    detail: str
    """``<recipient>: <code>,<code>; ...``: the engine's reasons per recipient (codes only)."""


@dataclass(slots=True)
class RoutingPolicy:
    """What the router enforces beyond the registry: agreements and consent."""

    index: AgreementIndex
    consent: dict[str, ConsentState] = field(default_factory=dict)
    """Consent state by subject token; a token without a record is ``not recorded``."""
    fingerprint: str = ""
    """Identifies the agreements and contracts the index was built from (reuse it if unchanged)."""

    def check(  # noqa: PLR0911 - one return per refusal, in the order they are checked
        self,
        *,
        sender: str,
        recipients: tuple[str, ...],
        contract: str,
        version: int,
        purpose: str,
        agreement: str | None,
        subject_token: str | None,
        at_ms: int,
    ) -> Verdict:
        """Decide every recipient under the header's agreement (module docstring)."""
        if agreement is None:
            return Verdict(False, PolicyReason.MISSING, None, "the header names no agreement")
        if _AGREEMENT_ID.fullmatch(agreement) is None:
            return Verdict(False, PolicyReason.UNKNOWN, None, "the agreement id is not in its canonical form")
        if _PURPOSE.fullmatch(purpose) is None:
            return Verdict(False, PolicyReason.PURPOSE_INVALID, None, "the purpose is not in its canonical form")
        agreement_id = AgreementId(agreement)
        held = self.index.get(agreement_id)
        if held is None:
            return Verdict(False, PolicyReason.UNKNOWN, None, f"no agreement {agreement} is known to the hub")
        tagged = self.index.catalog.contracts.get((contract, version))
        if tagged is None:  # registered (the registry check passed) but not yet in this index
            return Verdict(False, ReasonCode.CONTRACT_NOT_COVERED, held.version, f"{contract} v{version} not loaded")
        consent = None if subject_token is None else self.consent.get(subject_token, NOT_RECORDED)
        parts: list[str] = []
        refusal: tuple[StrEnum, int | None] | None = None
        version_used: int | None = held.version
        for recipient in recipients:
            decision = decide(
                DecisionRequest(
                    sender=AgencyId(sender),
                    recipient=AgencyId(recipient),
                    contract=tagged,
                    purpose=Purpose(purpose),
                    at_ms=at_ms,
                    consent=consent,
                    agreement_id=agreement_id,
                ),
                self.index,
            )
            parts.append(f"{recipient}: {','.join(decision.codes)}")
            if not decision.permitted and refusal is None:
                refusal = (_refusal_code(decision), decision.agreement_version)
            elif decision.permitted:
                version_used = decision.agreement_version
        detail = "; ".join(parts)
        if refusal is not None:
            code, refused_version = refusal
            return Verdict(False, code, refused_version or held.version, detail)
        return Verdict(True, ReasonCode.PERMITTED, version_used, detail)


def _refusal_code(decision: Decision) -> StrEnum:
    codes = [r.code for r in decision.reasons]
    if not codes:
        return ReasonCode.AGREEMENT_NONE
    if codes[0] is ReasonCode.AGREEMENT_NONE and decision.agreement_id is None:
        return PolicyReason.NOT_A_PARTY  # the named agreement exists but does not cover both agencies
    # A consent refusal follows the agreement's permit reasons: report the consent code.
    return next((c for c in codes if c.startswith(("consent.", "override."))), codes[0])
