"""The decision: may this sender send this message to this recipient, and which of its fields?

``decide(request, index)`` is pure apart from the index's memo, never raises for an expected
outcome, and answers in a few dict hits once the memo is warm. The steps:

1. **Candidate agreements**: the one named in the request (the envelope header says which
   agreement it relies on), or every agreement covering both agencies.
2. **Each agreement on its own** (first failing check is its reason):
   active (``agreement.not_active`` / ``.suspended`` / ``.revoked`` / ``.expired``), inside
   its period (``.not_yet_valid`` / ``.expired``), the two agencies are different parties
   (``.same_party``), it covers the contract (``contract.not_covered``) and the purpose
   (``purpose.not_agreed``). Then its provisions decide each data class, with the
   specificity rule of ``consent.rules``: an exception beats its parent; a named agency beats
   a kind or group, which beats anyone (on the sender and the recipient axis); **deny wins
   among equally specific provisions**; nothing permitted unless a provision permits it. A
   field is allowed when its class, and the class of every record it sits in, is permitted
   (``TaggedContract.fields_for``). Then, when the message's contract version is newer than
   the one the agreement is pinned to, the sensitive fields the pinned version lacks (and
   the fields inside them) are withheld (``fields.not_approved``, naming the field paths;
   ``TaggedContract.added_since``). No allowed field: ``provision.denied`` (a deny won),
   ``provision.none`` (nothing matched) or ``fields.not_approved`` (only unapproved fields).
3. **Consent** (``consent.subject.judge_consent``): for a message about a young person, each
   permitting agreement is judged against the subject's consent state and the agreement's
   lawful basis. Refused or withdrawn consent denies unless the basis does not rest on
   consent *and* a reviewed emergency override is in force; under a consent basis only
   consent given permits.
4. **Which agreement is relied on**: agreements are separate legal bases, never combined. Of
   the agreements that permit after consent, the one allowing the most fields (then the
   lowest id) is relied on; its id, version and lawful basis are in the decision. When none
   permits, the decision is a deny with every agreement's reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from consent.basis import LawfulBasis
from consent.contract import TaggedContract
from consent.ids import AgreementId
from consent.index import AgreementIndex, Compiled
from consent.model import Action, DataClass, Effect, Member
from consent.period import FOREVER, NEVER
from consent.reasons import Reason, ReasonCode
from consent.rules import Verdict, resolve
from consent.subject import ConsentState, Judgement, judge_consent
from onedoor.ids import AgencyId, Purpose


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """One flow to decide: a message (or answer) from a sender to one recipient."""

    sender: AgencyId
    recipient: AgencyId
    contract: TaggedContract
    """The contract version the body is written with, and its field tags."""
    purpose: Purpose
    at_ms: int
    """When: sending, routing or receiving time, ms since the epoch."""
    consent: ConsentState | None = None
    """The subject's consent state; ``None`` only for a message about no identifiable young person.
    For a subject with no record, pass ``ConsentState.not_recorded()``."""
    action: Action = Action.SEND
    agreement_id: AgreementId | None = None
    """The agreement the sender relies on (from the header); ``None``: find one."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: permit or deny, what may be received, and why."""

    effect: Effect
    allowed_fields: frozenset[str]
    """Field paths the recipient may receive; empty on a deny."""
    allowed_classes: frozenset[DataClass]
    """Data classes of the allowed fields."""
    agreement_id: AgreementId | None
    """The agreement relied on (a permit), or the one that refused (a deny judged under one agreement)."""
    agreement_version: int | None
    lawful_basis: LawfulBasis | None
    """The basis relied on; ``None`` on a deny."""
    reasons: tuple[Reason, ...]

    @property
    def permitted(self) -> bool:
        """Whether anything may be sent."""
        return self.effect is Effect.PERMIT

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(r.code.value for r in self.reasons)

    def explain(self) -> str:
        """The reasons as sentences, one per line."""
        return "\n".join(r.sentence for r in self.reasons)


@dataclass(slots=True)
class _Option:
    """An agreement that permits before consent is considered, with its decisions per consent judgement."""

    rests_on_consent: bool
    base: Decision
    by_judgement: dict[Judgement, Decision] = field(default_factory=dict)

    def decision(self, judgement: Judgement) -> Decision:
        found = self.by_judgement.get(judgement)
        if found is None:
            permits, codes = judgement
            base = self.base
            extra = tuple(Reason(code, base.agreement_id) for code in codes)
            if permits:
                found = Decision(
                    Effect.PERMIT,
                    base.allowed_fields,
                    base.allowed_classes,
                    base.agreement_id,
                    base.agreement_version,
                    base.lawful_basis,
                    base.reasons + extra,
                )
            else:
                found = Decision(
                    Effect.DENY, frozenset(), frozenset(), base.agreement_id, base.agreement_version, None, extra
                )
            self.by_judgement[judgement] = found
        return found


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the memo keeps: the agreement-level answer and when it stays true."""

    valid_from: int
    valid_until: int
    plain: Decision
    """The answer when consent does not apply."""
    options: tuple[_Option, ...]
    """Permitting agreements, best first."""


def decide(request: DecisionRequest, agreements: AgreementIndex) -> Decision:
    """Decide one flow (module docstring)."""
    return decide_until(request, agreements)[0]


def decide_until(request: DecisionRequest, agreements: AgreementIndex) -> tuple[Decision, int]:
    """``decide``, and until when (ms, exclusive) the same request would get the same decision.

    The answer holds while no agreement period, provision period or review date begins or ends,
    and no emergency override of the subject starts or expires. A caller may cache the decision
    until then, for as long as it holds the same index and consent state.
    """
    at = request.at_ms
    key = (
        request.sender,
        request.recipient,
        request.contract.key,
        request.purpose,
        request.action,
        request.agreement_id,
    )
    outcome: _Outcome | None = agreements.memo.get(key)
    if outcome is None or not outcome.valid_from <= at < outcome.valid_until:
        outcome = _evaluate(request, agreements)
        agreements.remember(key, outcome)
    consent = request.consent
    if consent is None or not outcome.options:
        return outcome.plain, outcome.valid_until
    until = outcome.valid_until
    override = consent.override
    if override is not None:  # an override starting or expiring changes the judgement
        until = min([until, *(t for t in (override.starts_ms, override.expires_ms) if t > at)])
    refused: Decision | None = None
    for option in outcome.options:
        decision = option.decision(judge_consent(option.rests_on_consent, consent, at))
        if decision.effect is Effect.PERMIT:
            return decision, until
        refused = refused or decision
    assert refused is not None  # noqa: S101 - options is not empty
    return refused, until


_STATE: Final = {
    "draft": ReasonCode.NOT_ACTIVE,
    "proposed": ReasonCode.NOT_ACTIVE,
    "suspended": ReasonCode.SUSPENDED,
    "revoked": ReasonCode.REVOKED,
    "expired": ReasonCode.EXPIRED,
}


def _evaluate(request: DecisionRequest, agreements: AgreementIndex) -> _Outcome:
    at = request.at_ms
    sender = agreements.member(request.sender)
    recipient = agreements.member(request.recipient)
    candidates: tuple[Compiled, ...] = ()
    if sender is not None and recipient is not None:
        candidates = agreements.candidates(sender.agency, recipient.agency, request.agreement_id)
    start, end = NEVER, FOREVER
    options: list[_Option] = []
    refusals: list[Reason] = []
    for compiled in candidates:
        low, high = compiled.window(at)
        start, end = max(start, low), min(end, high)
        assert sender is not None  # noqa: S101 - candidates are only found for two known agencies
        assert recipient is not None  # noqa: S101
        judged = _judge(compiled, sender, recipient, request)
        if isinstance(judged, _Option):
            options.append(judged)
        else:
            refusals.append(judged)
    if options:
        options.sort(key=lambda o: (-len(o.base.allowed_fields), o.base.agreement_id or ""))
        return _Outcome(start, end, options[0].base, tuple(options))
    only = candidates[0].agreement if len(candidates) == 1 else None
    deny = Decision(
        Effect.DENY,
        frozenset(),
        frozenset(),
        None if only is None else only.id,
        None if only is None else only.version,
        None,
        tuple(refusals) or (Reason(ReasonCode.AGREEMENT_NONE),),
    )
    return _Outcome(start, end, deny, ())


def _judge(compiled: Compiled, sender: Member, recipient: Member, request: DecisionRequest) -> _Option | Reason:
    """One agreement's answer before consent: a permitting option, or the reason it refuses."""
    agreement = compiled.agreement
    at = request.at_ms
    refusal = _STATE.get(agreement.state)
    if refusal is None and at < agreement.period.start_ms:
        refusal = ReasonCode.NOT_YET_VALID
    elif refusal is None and at >= agreement.period.end_ms:
        refusal = ReasonCode.EXPIRED
    elif refusal is None and not compiled.between_parties(sender.agency, recipient.agency):
        refusal = ReasonCode.SAME_PARTY
    elif refusal is None and request.contract.name not in agreement.contracts:
        refusal = ReasonCode.CONTRACT_NOT_COVERED
    elif refusal is None and request.purpose not in agreement.purposes:
        refusal = ReasonCode.PURPOSE_NOT_AGREED
    if refusal is not None:
        return _reason(compiled, refusal)
    contract = request.contract
    verdict = resolve(
        agreement.rules, sender=sender, recipient=recipient, action=request.action, purpose=request.purpose, at_ms=at
    )
    overdue = at >= agreement.review_ms
    key = (contract.key, verdict.permitted, overdue)
    option: _Option | None = compiled.cache.get(key)
    if option is not None:
        return option
    judged = _permit(compiled, contract, verdict, overdue)
    if isinstance(judged, _Option):
        compiled.cache[key] = judged
    return judged


def _permit(compiled: Compiled, contract: TaggedContract, verdict: Verdict, overdue: bool) -> _Option | Reason:
    """What the provisions' verdict lets through of ``contract``, less what the parties have not approved."""
    fields, classes = contract.allowed(verdict.permitted & contract.classes)
    if not fields:
        denied = verdict.denied & contract.classes
        if denied:
            return _reason(compiled, ReasonCode.PROVISION_DENIED, _names(denied))
        return _reason(compiled, ReasonCode.NOTHING_PERMITTED)
    withheld = contract.classes - classes
    unapproved = _unapproved(compiled, contract, fields)
    if unapproved:
        fields = fields - unapproved
        if not fields:
            return _reason(compiled, ReasonCode.NOT_APPROVED, ", ".join(sorted(unapproved)))
        classes = frozenset(contract.tags[p] for p in fields)
    agreement = compiled.agreement
    ident = agreement.id
    reasons = [Reason(ReasonCode.PERMITTED, ident, _names(classes))]
    if withheld:
        reasons.append(Reason(ReasonCode.WITHHELD, ident, _names(withheld)))
    if unapproved:
        reasons.append(Reason(ReasonCode.NOT_APPROVED, ident, ", ".join(sorted(unapproved))))
    if overdue:
        reasons.append(Reason(ReasonCode.REVIEW_OVERDUE, ident, f"review date {agreement.review_date.isoformat()}"))
    base = Decision(Effect.PERMIT, fields, classes, ident, agreement.version, agreement.lawful_basis, tuple(reasons))
    return _Option(agreement.lawful_basis.rests_on_consent, base)


def _unapproved(compiled: Compiled, contract: TaggedContract, fields: frozenset[str]) -> frozenset[str]:
    """Of ``fields``, those the agreement's parties have not approved: added after its pinned version."""
    pinned = compiled.pins.get(contract.name)
    if pinned is None or pinned.version >= contract.version:
        return frozenset()
    return fields & contract.added_since(pinned)


def _reason(compiled: Compiled, code: ReasonCode, detail: str = "") -> Reason:
    """The agreement's reason ``code``, made once."""
    key = (code, detail)
    found: Reason | None = compiled.cache.get(key)
    if found is None:
        found = Reason(code, compiled.agreement.id, detail)
        compiled.cache[key] = found
    return found


def _names(classes: frozenset[DataClass]) -> str:
    return ", ".join(sorted(classes))
