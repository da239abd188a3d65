"""Reference decisions over one synthetic federation: one flow per row, and a sentence saying why.

The federation is in ``world.py``: a bilateral police/council agreement, a police force with a
group of London boroughs, the boroughs among themselves, a consent-based charity service, a
time-boxed YOT pilot, and agreements in every state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from consent import Action, AgreementIndex, ConsentState, Decision, Effect, EmergencyOverride, TaggedContract, decide
from tests.unit.consent.world import (
    ACADEMY,
    ALERT,
    CAMHS,
    CHARITY,
    COORDINATION,
    COUNTY_POLICE,
    EXAMPLEHAM,
    LONG_AGO,
    METRO_POLICE,
    NOW,
    REFERRAL,
    SAMPLETON,
    STATUS,
    TESTBOROUGH,
    TESTSHIRE,
    YOT,
    index,
    request,
)

PERMIT, DENY = Effect.PERMIT, Effect.DENY


def override(start: datetime, hours: float) -> EmergencyOverride:
    return EmergencyOverride(
        justification="Synthetic: exploiter believed to be in the household; strategy discussion tomorrow.",
        recorded_by="fake-duty-social-worker",
        reviewed_by="fake-team-manager",
        starts_at=start,
        expires_at=start + timedelta(hours=hours),
    )


GIVEN = ConsentState.given(LONG_AGO, "young person")
REFUSED = ConsentState.refused(LONG_AGO)
WITHDRAWN = ConsentState.withdrawn(NOW - timedelta(hours=2))
NOT_SOUGHT = ConsentState.not_sought_risk(
    LONG_AGO, justification="Synthetic: asking would alert the exploiters.", recorded_by="fake-dsl"
)


@dataclass(frozen=True)
class Case:
    id: str
    sender: str
    recipient: str
    effect: Effect
    codes: tuple[str, ...]
    why: str
    purpose: str = "safeguarding-referral"
    contract: TaggedContract = REFERRAL
    consent: ConsentState | None = None
    action: Action = Action.SEND
    at: datetime = NOW
    agreement_id: str | None = None
    relied_on: str | None = None
    includes: frozenset[str] = field(default_factory=frozenset)
    excludes: frozenset[str] = field(default_factory=frozenset)


def fields(*paths: str) -> frozenset[str]:
    return frozenset(paths)


CASES = [
    # --- what the agreements permit -------------------------------------------------------------
    Case(
        "bilateral/police-to-council-full", COUNTY_POLICE, TESTBOROUGH, PERMIT, ("agreement.permits",),
        "The police-to-council provision permits every class, so the whole referral may go.",
        relied_on="isa-county-police-testborough",
        includes=fields("child.given_name", "health_concerns", "exploitation.line_names", "child.home_address.town"),
    ),
    Case(
        "bilateral/council-to-police-limited", TESTBOROUGH, COUNTY_POLICE, PERMIT,
        ("agreement.permits", "fields.withheld"),
        "Limited access is status, not file: flags and who to call go; the child's identity record, and "
        "every field inside it (even the safeguarding care status), stays behind.",
        includes=fields(
            "exploitation.nrm_status", "professional_network.phone", "consent.status", "parents_carers.phone"
        ),
        excludes=fields(
            "child", "child.care_status", "child.phone", "health_concerns", "referrer", "parents_carers.full_name"
        ),
    ),
    Case(
        "bilateral/status-check-operational-only", TESTBOROUGH, COUNTY_POLICE, PERMIT,
        ("agreement.permits", "fields.withheld"),
        "Answering a status check is its own action: the council answers with operational data only.",
        purpose=STATUS, contract=ALERT, action=Action.QUERY,
        includes=fields("alert_id", "occurred_at", "action_requested"),
        excludes=fields("kind", "details", "contact", "contact.role"),
    ),
    Case(
        "named-agreement/relied-on", COUNTY_POLICE, TESTBOROUGH, PERMIT, ("agreement.permits",),
        "The header names the agreement the sender relies on, and it permits the flow.",
        agreement_id="isa-county-police-testborough", relied_on="isa-county-police-testborough",
    ),
    Case(
        "named-agreement/not-a-party", COUNTY_POLICE, TESTBOROUGH, DENY, ("agreement.none",),
        "Naming an agreement the two agencies are not both party to gives nothing, and does not say whether it exists.",
        agreement_id="isa-testborough-charity",
    ),
    Case(
        "unknown-agency", "unregistered-fake-agency", TESTBOROUGH, DENY, ("agreement.none",),
        "An agency the directory does not know is party to no agreement.",
    ),
    Case(
        "no-agreement", CHARITY, COUNTY_POLICE, DENY, ("agreement.none",),
        "Nothing is shared between agencies that have not agreed to share.",
    ),
    Case(
        "purpose-not-agreed", COUNTY_POLICE, TESTBOROUGH, DENY, ("purpose.not_agreed",),
        "The agreement covers referrals, alerts, strategy discussions and status checks, not NRM referrals.",
        purpose="nrm-referral",
    ),
    Case(
        "contract-not-covered", TESTBOROUGH, CHARITY, DENY, ("contract.not_covered", "contract.not_covered"),
        "Neither charity agreement covers alerts, only referrals.",
        contract=ALERT, consent=GIVEN,
    ),
    # --- agreements that are not in force ---------------------------------------------------------
    Case(
        "state/revoked", COUNTY_POLICE, TESTSHIRE, DENY, ("agreement.revoked",),
        "A revoked agreement stops every new message at once.",
    ),
    Case(
        "state/suspended", TESTSHIRE, ACADEMY, DENY, ("agreement.suspended",),
        "A suspended agreement permits nothing until it is reinstated.",
    ),
    Case(
        "state/proposed", COUNTY_POLICE, CAMHS, DENY, ("agreement.not_active",),
        "An agreement only takes effect once every party has approved it.",
    ),
    Case(
        "period/ended", METRO_POLICE, TESTSHIRE, DENY, ("agreement.expired",),
        "An active agreement whose end date has passed has expired, even before its state is updated.",
    ),
    Case(
        "period/not-started", YOT, ACADEMY, DENY, ("agreement.not_yet_valid",),
        "An approved agreement that starts next year permits nothing yet.",
    ),
    Case(
        "review-overdue-still-permits", ACADEMY, EXAMPLEHAM, PERMIT, ("agreement.permits", "agreement.review_overdue"),
        "A missed review date is flagged to the admins on every decision, but does not stop sharing.",
    ),
    # --- groups, kinds, exceptions and specificity -------------------------------------------------
    Case(
        "group-party/police-to-borough", METRO_POLICE, EXAMPLEHAM, PERMIT, ("agreement.permits",),
        "A borough is a party through the London boroughs group and receives everything from the police.",
        relied_on="isa-metro-london",
    ),
    Case(
        "nested-exception/no-health-to-yot", METRO_POLICE, YOT, PERMIT, ("agreement.permits", "fields.withheld"),
        "The YOT is a London member, but an exception inside the group permit denies health and criminal "
        "intelligence to youth offending teams: an exception beats its parent.",
        includes=fields("child.given_name", "exploitation.nrm_status"),
        excludes=fields("health_concerns", "child.special_educational_needs", "exploitation.line_names"),
    ),
    Case(
        "equal-specificity/deny-wins", EXAMPLEHAM, METRO_POLICE, PERMIT, ("agreement.permits", "fields.withheld"),
        "Boroughs may send 'limited' to the police, but a deny of contact data for the same senders and "
        "recipient is just as specific, so deny wins for contact.",
        includes=fields("concern_summary", "exploitation.nrm_status"),
        excludes=fields("professional_network", "professional_network.role", "parents_carers.phone"),
    ),
    Case(
        "named-agency-beats-group", SAMPLETON, METRO_POLICE, PERMIT, ("agreement.permits", "fields.withheld"),
        "A permit naming Sampleton is more specific than the deny naming the whole group, so Sampleton's "
        "contact data goes.",
        includes=fields("professional_network.phone", "concern_summary"),
        excludes=fields("child"),
    ),
    Case(
        "kind-deny-ties-group-permit", YOT, METRO_POLICE, DENY, ("provision.denied",),
        "A deny naming youth offending teams (a kind) is as specific as the permit naming the group, so the "
        "deny wins for every class and nothing may go.",
    ),
    Case(
        "same-party/boroughs-under-group-agreement", TESTBOROUGH, EXAMPLEHAM, DENY,
        ("contract.not_covered", "agreement.same_party"),
        "Both boroughs are only in the group party of the police agreement, which covers police-borough "
        "flows; their own mutual agreement covers alerts, not referrals. Each agreement gives its reason.",
    ),
    Case(
        "single-group-agreement/boroughs-coordinate", TESTBOROUGH, EXAMPLEHAM, PERMIT,
        ("agreement.permits", "fields.withheld"),
        "An agreement whose only party is the group lets its members share among themselves.",
        purpose=COORDINATION, contract=ALERT, relied_on="isa-london-mutual",
        includes=fields("kind", "contact.phone"), excludes=fields("subject_token", "location"),
    ),
    Case(
        "closed-world/nothing-permitted-back", CHARITY, TESTBOROUGH, DENY, ("provision.none", "purpose.not_agreed"),
        "The consent agreement only provides for the council sending to the charity; nothing provides for "
        "the reverse, so nothing goes (and the updates agreement does not cover referrals).",
        consent=GIVEN,
    ),
    Case(
        "provision-period/pilot-running", COUNTY_POLICE, YOT, PERMIT, ("agreement.permits", "fields.withheld"),
        "During the pilot the YOT also receives identity and criminal intelligence.",
        includes=fields("child.given_name", "exploitation.line_names"),
        excludes=fields("health_concerns", "child.home_address"),
    ),
    Case(
        "provision-period/pilot-over", COUNTY_POLICE, YOT, PERMIT, ("agreement.permits", "fields.withheld"),
        "After the pilot only the 'limited' provision remains.",
        at=datetime.fromisoformat("2026-08-01T00:00:00+00:00"),
        includes=fields("exploitation.nrm_status"), excludes=fields("child", "exploitation.line_names"),
    ),
    # --- consent under a safeguarding basis (public task, Sch. 1 para 18 / Sch. 8 para 4) -------------
    Case(
        "consent/given", COUNTY_POLICE, TESTBOROUGH, PERMIT, ("agreement.permits", "consent.given"),
        "Consent given is recorded as part of the reasons.", consent=GIVEN,
    ),
    Case(
        "consent/not-recorded", COUNTY_POLICE, TESTBOROUGH, PERMIT, ("agreement.permits", "consent.not_recorded"),
        "The basis does not rest on consent, so sharing goes ahead; the note asks for consent to be recorded.",
        consent=ConsentState.not_recorded(),
    ),
    Case(
        "consent/not-sought-risk", COUNTY_POLICE, TESTBOROUGH, PERMIT, ("agreement.permits", "consent.not_sought_risk"),
        "Not seeking consent because it would put the child at risk is what DPA 2018 Sch. 1 para 18 allows.",
        consent=NOT_SOUGHT,
    ),
    Case(
        "consent/refused", COUNTY_POLICE, TESTBOROUGH, DENY, ("consent.refused",),
        "A refusal is honoured by default, even under a safeguarding basis.", consent=REFUSED,
    ),
    Case(
        "consent/withdrawn", COUNTY_POLICE, TESTBOROUGH, DENY, ("consent.withdrawn",),
        "A withdrawal takes effect for the next message.", consent=WITHDRAWN,
    ),
    Case(
        "consent/withdrawn-overridden", COUNTY_POLICE, TESTBOROUGH, PERMIT, ("agreement.permits", "consent.overridden"),
        "A reviewed emergency override recorded after the withdrawal, still in force, permits sharing.",
        consent=WITHDRAWN.with_override(override(NOW - timedelta(hours=1), 24)),
    ),
    Case(
        "consent/override-expired", COUNTY_POLICE, TESTBOROUGH, DENY, ("consent.refused", "override.expired"),
        "An override is time-boxed; once it expires, the refusal applies again.",
        consent=REFUSED.with_override(override(NOW - timedelta(days=3), 48)),
    ),
    Case(
        "consent/override-superseded", COUNTY_POLICE, TESTBOROUGH, DENY, ("consent.withdrawn", "override.superseded"),
        "An override made before the young person withdrew consent does not override the withdrawal.",
        consent=WITHDRAWN.with_override(override(NOW - timedelta(hours=5), 24)),
    ),
    # --- consent under a consent basis ------------------------------------------------------------------
    Case(
        "consent-basis/given", TESTBOROUGH, CHARITY, PERMIT, ("agreement.permits", "fields.withheld", "consent.given"),
        "The charity service rests on the young person's consent, which was given.",
        consent=GIVEN, relied_on="isa-testborough-charity",
    ),
    Case(
        "consent-basis/not-sought", TESTBOROUGH, CHARITY, DENY, ("consent.required",),
        "Under a consent basis, 'not sought' is not consent: nothing goes.", consent=NOT_SOUGHT,
    ),
    Case(
        "consent-basis/override-not-applicable", TESTBOROUGH, CHARITY, DENY,
        ("consent.refused", "override.not_applicable"),
        "An emergency override is a safeguarding decision; an agreement resting on consent has no "
        "safeguarding basis to carry it.",
        consent=REFUSED.with_override(override(NOW - timedelta(hours=1), 24)),
    ),
    Case(
        "consent-basis/falls-back-to-safeguarding-agreement", TESTBOROUGH, CHARITY, PERMIT,
        ("agreement.permits", "fields.withheld", "consent.not_sought_risk"),
        "For case coordination a second agreement, on a safeguarding basis, also applies: without consent "
        "the decision relies on it, with its narrower data.",
        purpose=COORDINATION, consent=NOT_SOUGHT, relied_on="isa-testborough-charity-updates",
        includes=fields("concern_summary"), excludes=fields("professional_network"),
    ),
    Case(
        "consent-basis/prefers-most-fields", TESTBOROUGH, CHARITY, PERMIT,
        ("agreement.permits", "fields.withheld", "consent.given"),
        "When both agreements permit, the one allowing more fields is relied on.",
        purpose=COORDINATION, consent=GIVEN, relied_on="isa-testborough-charity",
        includes=fields("professional_network.phone"),
    ),
    Case(
        "consent-basis/no-subject", TESTBOROUGH, CHARITY, PERMIT, ("agreement.permits", "fields.withheld"),
        "With no consent state (a message about no identifiable young person) the consent rule does not "
        "apply: the caller must pass a state whenever the message has a subject.",
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def federation() -> AgreementIndex:
    return index()


def run(case: Case, federation: AgreementIndex) -> Decision:
    return decide(
        request(
            case.sender,
            case.recipient,
            case.purpose,
            contract=case.contract,
            consent=case.consent,
            action=case.action,
            at=case.at,
            agreement_id=case.agreement_id,
        ),
        federation,
    )


def test_there_are_enough_reference_cases() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.why for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference_case(case: Case, federation: AgreementIndex) -> None:
    decision = run(case, federation)
    assert decision.effect is case.effect, decision.explain()
    assert decision.codes == case.codes, decision.explain()
    if case.relied_on is not None:
        assert decision.agreement_id == case.relied_on
    assert case.includes <= decision.allowed_fields, case.includes - decision.allowed_fields
    assert not case.excludes & decision.allowed_fields, case.excludes & decision.allowed_fields
    if decision.permitted:
        assert decision.allowed_fields
        assert decision.lawful_basis is not None
        assert decision.agreement_id is not None
        assert decision.agreement_version == 1
        assert decision.allowed_classes == {case.contract.tags[p] for p in decision.allowed_fields}
    else:
        assert decision.allowed_fields == frozenset()
        assert decision.allowed_classes == frozenset()
        assert decision.lawful_basis is None
    assert all(r.sentence for r in decision.reasons)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_memo_gives_the_same_answer(case: Case, federation: AgreementIndex) -> None:
    """Deciding twice (the second from the memo) gives the same decision."""
    assert run(case, federation) == run(case, federation)
    assert run(case, index()) == run(case, federation)
