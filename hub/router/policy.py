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
from typing import Final, cast

from consent.actions import action_for
from consent.decide import Decision, DecisionRequest, decide_until
from consent.index import AgreementIndex
from consent.period import FOREVER
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
    """What the router enforces beyond the registry: agreements and consent.

    ``check`` runs once per envelope on the router's hot path. A verdict is cached per flow
    (sender, recipients, contract version, purpose, agreement, the subject's consent state) for
    as long as the engine says it holds (``consent.decide.decide_until``: until an agreement or
    provision period, a review date or an emergency override starts or ends). A change of
    agreements or consent builds a new ``RoutingPolicy``, so the cache never outlives them.
    """

    index: AgreementIndex
    consent: dict[str, ConsentState] = field(default_factory=dict)
    """Consent state by subject token; a token without a record is ``not recorded``."""
    fingerprint: str = ""
    """Identifies the agreements and contracts the index was built from (reuse it if unchanged)."""
    _flows: dict[tuple[object, ...], _Cached] = field(default_factory=dict, repr=False)

    def check(
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
        """Decide every recipient under the header's agreement (module docstring).

        ``sender`` and ``recipients`` are registered agencies (the envelope checks came first).
        """
        if agreement is None:
            return _MISSING
        consent = None if subject_token is None else self.consent.get(subject_token, NOT_RECORDED)
        # id(consent) is safe: this policy's consent map (or NOT_RECORDED) keeps the object alive.
        key = (sender, recipients, contract, version, purpose, agreement, id(consent))
        cached = self._flows.get(key)
        if cached is not None and cached.since <= at_ms < cached.until:
            return cached.verdict
        verdict, until = self._decide(sender, recipients, contract, version, purpose, agreement, consent, at_ms)
        if len(self._flows) >= _REMEMBERED:
            self._flows.clear()
        self._flows[key] = _Cached(verdict, at_ms, until)
        return verdict

    def _decide(  # noqa: PLR0917 - the header fields a verdict depends on
        self,
        sender: str,
        recipients: tuple[str, ...],
        contract: str,
        version: int,
        purpose: str,
        agreement: str,
        consent: ConsentState | None,
        at_ms: int,
    ) -> tuple[Verdict, int]:
        """The verdict, and until when it holds (``FOREVER`` for a refusal that no time can change)."""
        if _AGREEMENT_ID.fullmatch(agreement) is None:
            return Verdict(False, PolicyReason.UNKNOWN, None, "the agreement id is not in its canonical form"), FOREVER
        if _PURPOSE.fullmatch(purpose) is None:
            return Verdict(False, PolicyReason.PURPOSE_INVALID, None, "the purpose is not canonical"), FOREVER
        # Checked just above (or registered): the casts only skip a second regex match per identifier.
        agreement_id = cast(AgreementId, agreement)
        held = self.index.get(agreement_id)
        if held is None:
            return Verdict(False, PolicyReason.UNKNOWN, None, f"no agreement {agreement} is known to the hub"), FOREVER
        tagged = self.index.catalog.contracts.get((contract, version))
        if tagged is None:  # registered (the registry check passed) but not yet in this index
            detail = f"{contract} v{version} not loaded"
            return Verdict(False, ReasonCode.CONTRACT_NOT_COVERED, held.version, detail), FOREVER
        action = action_for(contract)
        decisions: list[Decision] = []
        until = FOREVER
        for recipient in recipients:
            decision, holds = decide_until(
                DecisionRequest(
                    sender=cast(AgencyId, sender),
                    recipient=cast(AgencyId, recipient),
                    contract=tagged,
                    purpose=cast(Purpose, purpose),
                    at_ms=at_ms,
                    consent=consent,
                    action=action,
                    agreement_id=agreement_id,
                ),
                self.index,
            )
            decisions.append(decision)
            until = min(until, holds)
        return _verdict(recipients, tuple(decisions), held.version), until


@dataclass(frozen=True, slots=True)
class _Cached:
    verdict: Verdict
    since: int
    until: int


_MISSING: Final = Verdict(False, PolicyReason.MISSING, None, "the header names no agreement")


_REMEMBERED: Final = 65_536


def _verdict(recipients: tuple[str, ...], decisions: tuple[Decision, ...], held_version: int) -> Verdict:
    detail = "; ".join(f"{r}: {','.join(d.codes)}" for r, d in zip(recipients, decisions, strict=True))
    refused = next((d for d in decisions if not d.permitted), None)
    if refused is not None:
        return Verdict(False, _refusal_code(refused), refused.agreement_version or held_version, detail)
    return Verdict(True, ReasonCode.PERMITTED, decisions[-1].agreement_version if decisions else held_version, detail)


def _refusal_code(decision: Decision) -> StrEnum:
    codes = [r.code for r in decision.reasons]
    if not codes:
        return ReasonCode.AGREEMENT_NONE
    if codes[0] is ReasonCode.AGREEMENT_NONE and decision.agreement_id is None:
        return PolicyReason.NOT_A_PARTY  # the named agreement exists but does not cover both agencies
    # A consent refusal follows the agreement's permit reasons: report the consent code.
    return next((c for c in codes if c.startswith(("consent.", "override."))), codes[0])
