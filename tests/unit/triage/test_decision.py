"""The triage decision model: each outcome, and the refusals an officer can meet (reference cases)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.triage.decision import (
    DecisionKind,
    Progress,
    TriageDecision,
    TriageInvalid,
    plan,
    service_options,
    triage_desks,
)
from connectors.triage.referral import INTELLIGENCE_SHARING, REFERRAL, SAFEGUARDING_REFERRAL, parse_referral
from onedoor.ids import AgencyId
from tests.unit.triage.world import AGENCIES, BOROUGH, CHARITY, DESK, NO_AGREEMENT, POLICE, may_send_from, referral_json

REFERRAL_BODY = parse_referral(referral_json())


def _plan(kind: str, service: str | None = None, reason: str | None = None) -> Any:
    return plan(
        TriageDecision.parse(kind, service, reason),
        REFERRAL_BODY,
        me=DESK,
        agencies=AGENCIES,
        may_send=may_send_from(DESK),
    )


def test_an_intervention_referral_goes_to_the_chosen_service_under_its_agreement() -> None:
    chosen = _plan("intervention", str(CHARITY))
    assert chosen.onward is not None
    assert (chosen.onward.recipient, chosen.onward.purpose, chosen.onward.contract) == (
        CHARITY,
        SAFEGUARDING_REFERRAL,
        REFERRAL,
    )
    assert chosen.onward.body["requested_service"] == "INTERVENTION"
    assert chosen.onward.body["child"]["given_name"] == "Testy"
    assert chosen.progress is Progress.BEING_HANDLED


def test_intelligence_goes_to_the_local_authority_even_when_none_is_chosen() -> None:
    chosen = _plan("intelligence")
    assert chosen.onward is not None
    assert (chosen.onward.recipient, chosen.onward.purpose) == (BOROUGH, INTELLIGENCE_SHARING)
    assert chosen.onward.body["requested_service"] == "INTELLIGENCE_ONLY"


def test_no_further_action_sends_nothing_and_closes_the_public_view() -> None:
    chosen = _plan("no-further-action", str(CHARITY), "Already known to the allocated social worker")
    assert chosen.onward is None
    assert chosen.decision.service is None, "a service chosen before switching to NFA is ignored"
    assert chosen.progress is Progress.CLOSED


@pytest.mark.parametrize(
    ("sentence", "kind", "service", "reason", "code", "field"),
    [
        ("no further action needs a reason", "no-further-action", None, None, "triage.reason_required", "reason"),
        ("a blank reason is no reason", "no-further-action", None, "   ", "triage.reason_required", "reason"),
        ("a reason has a length limit", "no-further-action", None, "x" * 2001, "triage.reason_too_long", "reason"),
        ("an outcome must be chosen", "", None, None, "triage.kind_required", "decision"),
        ("an unknown outcome is no outcome", "escalate", None, None, "triage.kind_required", "decision"),
        ("an intervention needs a service", "intervention", None, None, "triage.service_required", "service"),
        ("a service must be an agency id", "intervention", "Not An Id!", None, "triage.unknown_service", "service"),
        (
            "a service must be in the directory",
            "intervention",
            "test-nowhere",
            None,
            "triage.unknown_service",
            "service",
        ),
        ("the desk cannot refer to itself", "intervention", str(DESK), None, "triage.unknown_service", "service"),
        ("no agreement: nothing is sent", "intervention", str(NO_AGREEMENT), None, "triage.no_agreement", "service"),
        (
            "intelligence goes to a local authority",
            "intelligence",
            str(CHARITY),
            None,
            "triage.not_local_authority",
            "service",
        ),
    ],
)
def test_refusals(  # noqa: PLR0917 - one parameter per table column
    sentence: str, kind: str, service: str | None, reason: str | None, code: str, field: str
) -> None:
    with pytest.raises(TriageInvalid) as refused:
        _plan(kind, service, reason)
    assert (refused.value.code, refused.value.field) == (code, field), sentence


def test_the_no_agreement_refusal_names_the_service() -> None:
    with pytest.raises(TriageInvalid) as refused:
        _plan("intervention", str(NO_AGREEMENT))
    assert "Test Youth Club" in refused.value.message
    assert str(NO_AGREEMENT) in refused.value.message


def test_intelligence_without_a_choice_needs_one_when_several_authorities_may_be_told() -> None:
    other = AgencyId("lb-otherborough-csc")
    agencies = {**AGENCIES, other: AGENCIES[BOROUGH].__class__(other, "Otherborough", "children-services")}
    with pytest.raises(TriageInvalid) as refused:
        plan(
            TriageDecision(DecisionKind.INTELLIGENCE),
            REFERRAL_BODY,
            me=DESK,
            agencies=agencies,
            may_send=lambda _recipient, _purpose: True,
        )
    assert refused.value.code == "triage.service_required"


def test_service_options_leave_out_this_desk_and_other_desks() -> None:
    ids = [o.id for o in service_options(AGENCIES, DESK)]
    assert DESK not in ids
    assert set(ids) == {CHARITY, NO_AGREEMENT, BOROUGH, POLICE}
    assert triage_desks(AGENCIES, POLICE) == [DESK]
