"""The agreement lifecycle as a table of cases, each with the sentence it stands for."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from consent.agreement import AgreementState
from hub.agreements.lifecycle import ALREADY_APPROVED, INVALID_TRANSITION, Event, VersionState, approve, move
from onedoor.errors import Conflict
from onedoor.ids import AgencyId

MET = AgencyId("met-police")
HACKNEY = AgencyId("lb-hackney-csc")
CHARITY = AgencyId("fake-youth-charity")
BOTH = frozenset({MET, HACKNEY})

P, A, S = VersionState.PROPOSED, VersionState.ACTIVE, VersionState.SUSPENDED
SUP, R, X = VersionState.SUPERSEDED, VersionState.REVOKED, VersionState.EXPIRED


@dataclass(frozen=True)
class MoveCase:
    sentence: str
    state: VersionState
    event: Event
    after: VersionState | None
    """``None``: refused with ``agreement.invalid_transition``."""


MOVES = [
    MoveCase("An active version can be suspended.", A, Event.SUSPEND, S),
    MoveCase("A proposed version cannot be suspended: nothing is in force yet.", P, Event.SUSPEND, None),
    MoveCase("A suspended version cannot be suspended again.", S, Event.SUSPEND, None),
    MoveCase("A pending version can be revoked before anyone approves it.", P, Event.REVOKE, R),
    MoveCase("An active version can be revoked.", A, Event.REVOKE, R),
    MoveCase("A suspended version can be revoked.", S, Event.REVOKE, R),
    MoveCase("Revocation is final: a revoked version cannot be suspended.", R, Event.SUSPEND, None),
    MoveCase("Revocation is final: a revoked version cannot be revoked again.", R, Event.REVOKE, None),
    MoveCase("An active version expires at the end of its period.", A, Event.EXPIRE, X),
    MoveCase("A suspended version expires too.", S, Event.EXPIRE, X),
    MoveCase("A proposed version never was in force, so it cannot expire.", P, Event.EXPIRE, None),
    MoveCase("An expired version cannot be suspended.", X, Event.SUSPEND, None),
    MoveCase("A newer proposal supersedes a pending one.", P, Event.SUPERSEDE, SUP),
    MoveCase("An approved amendment supersedes the active version.", A, Event.SUPERSEDE, SUP),
    MoveCase("An approved amendment supersedes a suspended version.", S, Event.SUPERSEDE, SUP),
    MoveCase("A superseded version cannot be suspended: it is not in force.", SUP, Event.SUSPEND, None),
    MoveCase("A superseded version cannot be revoked: it is no longer anything to revoke.", SUP, Event.REVOKE, None),
]


@pytest.mark.parametrize("case", MOVES, ids=lambda c: c.sentence)
def test_moves(case: MoveCase) -> None:
    if case.after is None:
        with pytest.raises(Conflict) as refused:
            move(case.state, case.event)
        assert refused.value.code == INVALID_TRANSITION
    else:
        assert move(case.state, case.event) is case.after


@dataclass(frozen=True)
class ApproveCase:
    sentence: str
    state: VersionState
    agency: AgencyId
    approved: frozenset[AgencyId]
    after: VersionState | str
    """The state after, or the code it is refused with."""


APPROVALS = [
    ApproveCase("The first of two parties' approvals leaves the version proposed.", P, MET, frozenset(), P),
    ApproveCase("The last party's approval makes the version active.", P, HACKNEY, frozenset({MET}), A),
    ApproveCase("Order does not matter: either party can approve last.", P, MET, frozenset({HACKNEY}), A),
    ApproveCase("A party cannot approve the same version twice.", P, MET, frozenset({MET}), ALREADY_APPROVED),
    ApproveCase("An agency that is not a party cannot approve.", P, CHARITY, frozenset(), INVALID_TRANSITION),
    ApproveCase("An active version needs no more approvals.", A, MET, frozenset(BOTH), INVALID_TRANSITION),
    ApproveCase("A superseded version cannot be approved.", SUP, MET, frozenset(), INVALID_TRANSITION),
    ApproveCase("A revoked version cannot be approved.", R, HACKNEY, frozenset({MET}), INVALID_TRANSITION),
]


@pytest.mark.parametrize("case", APPROVALS, ids=lambda c: c.sentence)
def test_approvals(case: ApproveCase) -> None:
    if isinstance(case.after, VersionState):
        assert approve(case.state, case.agency, case.approved, BOTH) is case.after
    else:
        with pytest.raises(Conflict) as refused:
            approve(case.state, case.agency, case.approved, BOTH)
        assert refused.value.code == case.after


def test_single_signatory_activates_at_once() -> None:
    """An agency and a group: only the agency signs, so its approval alone makes the version active."""
    assert approve(P, MET, frozenset(), frozenset({MET})) is A


@pytest.mark.parametrize(
    ("state", "engine"),
    [
        (P, AgreementState.PROPOSED),
        (A, AgreementState.ACTIVE),
        (S, AgreementState.SUSPENDED),
        (R, AgreementState.REVOKED),
        (X, AgreementState.EXPIRED),
        (SUP, AgreementState.REVOKED),
    ],
)
def test_engine_state(state: VersionState, engine: AgreementState) -> None:
    """The engine is told each state in its own terms; a superseded version permits nothing."""
    assert state.engine_state() is engine


def test_in_force_and_final() -> None:
    """Active and suspended versions are in force; superseded, revoked and expired ones never move again."""
    assert {s for s in VersionState if s.in_force} == {A, S}
    assert {s for s in VersionState if s.final} == {SUP, R, X}
