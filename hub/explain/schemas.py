"""What ``GET /explain/...`` answers: an explanation with one entry per recorded decision."""

from __future__ import annotations

from typing import Self

from pydantic import AwareDatetime, BaseModel

from hub.explain.explain import About, Decision, Explanation, Verdict


class ReasonOut(BaseModel):
    """One reason: a stable code and what it means for an agency admin."""

    code: str
    sentence: str


class DecisionOut(BaseModel):
    """One recorded decision (for one recipient, where the hub decided per recipient)."""

    at: AwareDatetime
    kind: str
    """The audit row's kind: ``route.delivered``, ``route.rejected``, ``api.authz`` ..."""
    outcome: Verdict
    actor: str | None
    """The sending agency, the recipient that refused, or the API caller (token subject)."""
    recipients: list[str]
    agreement_id: str | None
    agreement_version: int | None
    contract: str | None
    contract_version: int | None
    route: str | None
    """For a request: method, route template and target."""
    reason_code: str | None
    """The code that decided a rejection or denial."""
    reasons: list[ReasonOut]
    note: str | None
    """The hub's own short sentence, when it recorded one."""
    line: str
    """The whole decision on one line, as ``onedoor agreement explain`` prints it."""

    @classmethod
    def from_decision(cls, decision: Decision) -> Self:
        """The response form of a ``Decision``."""
        return cls(
            at=decision.at,
            kind=decision.kind,
            outcome=decision.verdict,
            actor=decision.actor,
            recipients=list(decision.recipients),
            agreement_id=decision.agreement_id,
            agreement_version=decision.agreement_version,
            contract=decision.contract,
            contract_version=decision.contract_version,
            route=decision.route,
            reason_code=decision.reason_code,
            reasons=[ReasonOut(code=r.code, sentence=r.sentence) for r in decision.reasons],
            note=decision.note,
            line=decision.line(),
        )


class ExplanationOut(BaseModel):
    """Every decision recorded about one message or one request that the caller may see, oldest first."""

    about: About
    id: str
    decisions: list[DecisionOut]

    @classmethod
    def from_explanation(cls, explanation: Explanation) -> Self:
        """The response form of an ``Explanation``."""
        return cls(
            about=explanation.about,
            id=explanation.id,
            decisions=[DecisionOut.from_decision(d) for d in explanation.decisions],
        )
