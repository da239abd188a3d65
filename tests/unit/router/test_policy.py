"""The hub's agreement and consent check, one case per row, through the router's pure ``decide``.

Each case seals a real envelope (tests.factories.World) whose header names an agreement, and
decides it against tables holding a ``RoutingPolicy`` built from engine agreements.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from consent import (
    AccessLevel,
    Action,
    Agreement,
    AgreementIndex,
    AgreementState,
    Catalog,
    ConsentState,
    EmergencyOverride,
    Period,
    Provision,
    TaggedContract,
)
from contracts.catalog import bundled_contract
from hub.router.decide import Delivered, Limits, Rejected, decide
from hub.router.policy import RoutingPolicy
from hub.router.service import _audit_row
from hub.router.tables import RoutingTables
from onedoor.envelope.window import MessageWindow
from tests.factories import World
from tests.unit.consent.world import (
    CATALOG,
    CHARITY,
    CONSENT_BASIS,
    COUNTY_POLICE,
    MEMBERS,
    TESTBOROUGH,
    agency,
    agreement,
)

LIMITS = Limits(max_envelope_bytes=64 * 1024, max_ttl_ms=3_600_000, clock_skew_ms=60_000)
TOKEN = "st1_FAKEtokenForTestsOnly00"
ISA = "isa-test-police-testborough"
FULL_BOTH_WAYS = [Provision.permit(classes=AccessLevel.FULL)]


def _isa(
    state: AgreementState = AgreementState.ACTIVE, provisions: list[Provision] = FULL_BOTH_WAYS, **kw: object
) -> Agreement:
    return agreement(ISA, [agency(COUNTY_POLICE), agency(TESTBOROUGH)], provisions, state=state, **kw)  # type: ignore[arg-type]


LIMITED_BOTH_WAYS = [Provision.permit(classes=AccessLevel.LIMITED)]


def _now() -> datetime:
    return datetime.now(UTC)


def _withdrawn(*, overridden: bool = False) -> ConsentState:
    at = _now() - timedelta(hours=2)
    override = (
        EmergencyOverride(
            justification="would-prejudice-protection",
            recorded_by="staff-0001",
            reviewed_by="staff-0002",
            starts_at=at + timedelta(minutes=5),
            expires_at=at + timedelta(hours=24),
        )
        if overridden
        else None
    )
    return ConsentState(ConsentState.withdrawn(at).status, at, "staff-0001", override=override)


@dataclass(frozen=True)
class Case:
    sentence: str
    expected: str
    """``delivered`` or the dead-letter reason."""
    agreements: tuple[Agreement, ...] = (_isa(),)
    named: str | None = ISA
    to_charity: bool = False
    consent: dict[str, ConsentState] = field(default_factory=dict)
    purpose: str = "safeguarding-referral"


CASES = [
    Case("An active agreement between the two agencies lets the referral through.", "delivered"),
    Case(
        "A header that names no agreement is refused: every message says what it relies on.",
        "agreement.missing",
        named=None,
    ),
    Case("An agreement the hub has never heard of is refused.", "agreement.unknown", named="isa-does-not-exist"),
    Case(
        "A revoked agreement stops new messages.",
        "agreement.revoked",
        agreements=(_isa(AgreementState.REVOKED, version=2),),
    ),
    Case(
        "A suspended agreement stops new messages.", "agreement.suspended", agreements=(_isa(AgreementState.SUSPENDED),)
    ),
    Case(
        "An agreement still waiting for approvals permits nothing.",
        "agreement.not_active",
        agreements=(_isa(AgreementState.PROPOSED),),
    ),
    Case(
        "One recipient outside the agreement refuses the whole envelope: nobody gets a partial send.",
        "agreement.not_a_party",
        to_charity=True,
    ),
    Case(
        "A purpose the agreement does not cover is refused.",
        "purpose.not_agreed",
        purpose="case-coordination",
    ),
    Case(
        "Withdrawn consent stops new messages about that young person.",
        "consent.withdrawn",
        consent={TOKEN: _withdrawn()},
    ),
    Case(
        "Withdrawn consent for somebody else does not affect this young person.",
        "delivered",
        consent={"st1_FAKEotherTokenForTests01": _withdrawn()},
    ),
    Case(
        "A reviewed emergency override lets a safeguarding message through despite the withdrawal.",
        "delivered",
        consent={TOKEN: _withdrawn(overridden=True)},
    ),
    Case(
        "Under an agreement resting on consent, no recorded consent means no sharing.",
        "consent.required",
        agreements=(_isa(basis=CONSENT_BASIS, provisions=LIMITED_BOTH_WAYS),),
    ),
    Case(
        "Under an agreement resting on consent, consent given permits.",
        "delivered",
        agreements=(_isa(basis=CONSENT_BASIS, provisions=LIMITED_BOTH_WAYS),),
        consent={TOKEN: ConsentState.given(datetime(2026, 1, 5, tzinfo=UTC), "staff-0003")},
    ),
]


def _tables(world: World, case: Case) -> RoutingTables:
    index = AgreementIndex.build(case.agreements, CATALOG, version=1)
    return replace(world.tables(), policy=RoutingPolicy(index=index, consent=dict(case.consent)))


def _route(world: World, case: Case) -> Delivered | Rejected:
    recipients = [world.council, world.charity] if case.to_charity else [world.council]
    header = world.header(world.police, recipients, agreement=case.named)
    value = world.seal(world.police, recipients, header=replace(header, purpose=case.purpose))  # type: ignore[arg-type]
    return decide(
        value,
        owner=str(world.police.agency),
        position="t.out.test-county-police:0:1",
        now_ms=int(time.time() * 1000),
        tables=_tables(world, case),
        replay=MessageWindow(),
        limits=LIMITS,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.sentence for c in CASES])
def test_policy_case(case: Case) -> None:
    world = World.make()
    decision = _route(world, case)
    outcome = "delivered" if isinstance(decision, Delivered) else str(decision.reason)
    assert outcome == case.expected, case.sentence


def test_world_agencies_are_the_engine_catalogs() -> None:
    # The cases rely on tests.factories.World and the consent world naming the same agencies.
    world = World.make()
    assert {str(world.police.agency), str(world.council.agency), str(world.charity.agency)} == {
        COUNTY_POLICE,
        TESTBOROUGH,
        CHARITY,
    }


def test_delivered_envelope_records_the_agreement_version_and_reasons() -> None:
    world = World.make()
    decision = _route(world, Case("", "delivered", agreements=(_isa(version=3),)))
    assert isinstance(decision, Delivered)
    assert (decision.agreement_id, decision.agreement_version, decision.purpose) == (ISA, 3, "safeguarding-referral")
    assert decision.detail is not None
    assert decision.detail.startswith(f"{TESTBOROUGH}: agreement.permits")
    assert "consent.not_recorded" in decision.detail
    row = _audit_row(decision, "t.out.test-county-police:0:1", _now())
    assert (row["agreement_id"], row["agreement_version"], row["subject_token"]) == (ISA, 3, TOKEN)


def test_refusal_is_audited_with_the_agreement_and_the_engine_reasons() -> None:
    world = World.make()
    decision = _route(world, Case("", "consent.withdrawn", consent={TOKEN: _withdrawn()}))
    assert isinstance(decision, Rejected)
    row = _audit_row(decision, "t.out.test-county-police:0:1", _now())
    assert row["reason_code"] == "consent.withdrawn"
    assert (row["agreement_id"], row["agreement_version"], row["purpose"]) == (ISA, 1, "safeguarding-referral")
    assert row["detail"] == f"{TESTBOROUGH}: consent.withdrawn"


def test_a_refused_envelope_is_not_remembered_as_routed() -> None:
    # The replay window admits an id only once it is delivered, so a sender may resend the
    # same message once the agreement is restored.
    world = World.make()
    header = world.header(world.police, [world.council], agreement=ISA)
    value = world.seal(world.police, [world.council], header=header)
    window = MessageWindow()
    suspended = Case("", "", agreements=(_isa(AgreementState.SUSPENDED),))
    active = Case("", "")
    now = int(time.time() * 1000)
    for case, expected in ((suspended, Rejected), (active, Delivered)):
        decision = decide(
            value,
            owner=str(world.police.agency),
            position="t.out.test-county-police:0:1",
            now_ms=now,
            tables=_tables(world, case),
            replay=window,
            limits=LIMITS,
        )
        assert isinstance(decision, expected)


STATUS_REPLY = TaggedContract.from_schema(bundled_contract("onedoor.status.StatusReply"), 1)


@pytest.mark.parametrize(
    ("actions", "expected"),
    [([Action.QUERY], "delivered"), ([Action.SEND], "provision.none")],
    ids=[
        "an answer to a status check is a query: a provision for queries lets it through",
        "a provision for sending alone does not let an answer through",
    ],
)
def test_an_answer_to_a_status_check_is_decided_as_a_query(actions: list[Action], expected: str) -> None:
    world = World.make()
    isa = agreement(
        ISA,
        [agency(COUNTY_POLICE), agency(TESTBOROUGH)],
        [Provision.permit(actions=actions, classes=AccessLevel.LIMITED)],
        contracts=[STATUS_REPLY],
        purposes=["victim-identification"],
    )
    catalog = Catalog.of(MEMBERS, [*CATALOG.contracts.values(), STATUS_REPLY])
    tables = replace(
        world.tables(frozenset({(str(STATUS_REPLY.name), 1)})),
        policy=RoutingPolicy(index=AgreementIndex.build([isa], catalog, version=1)),
    )
    header = world.header(world.council, [world.police], agreement=ISA, contract=STATUS_REPLY.name, subject_token=None)
    value = world.seal(world.council, [world.police], header=replace(header, purpose="victim-identification"))  # type: ignore[arg-type]
    decision = decide(
        value,
        owner=str(world.council.agency),
        position="t.out.lb-testborough-csc:0:1",
        now_ms=int(time.time() * 1000),
        tables=tables,
        replay=MessageWindow(),
        limits=LIMITS,
    )
    outcome = "delivered" if isinstance(decision, Delivered) else str(decision.reason)
    assert outcome == expected


def _check(policy: RoutingPolicy, at: datetime) -> str:
    verdict = policy.check(
        sender=COUNTY_POLICE,
        recipients=(TESTBOROUGH,),
        contract="onedoor.referral.MasterReferral",
        version=1,
        purpose="safeguarding-referral",
        agreement=ISA,
        subject_token=TOKEN,
        at_ms=int(at.timestamp() * 1000),
    )
    return "delivered" if verdict.permitted else str(verdict.code)


def test_a_cached_verdict_is_not_used_past_the_override_that_allowed_it() -> None:
    consent = _withdrawn(overridden=True)
    assert consent.override is not None
    policy = RoutingPolicy(index=AgreementIndex.build([_isa()], CATALOG, version=1), consent={TOKEN: consent})
    expires = consent.override.expires_at
    assert _check(policy, expires - timedelta(seconds=1)) == "delivered"
    assert _check(policy, expires - timedelta(milliseconds=500)) == "delivered", "from the cache"
    assert _check(policy, expires) == "consent.withdrawn", "the override has ended: decided again"


def test_a_cached_verdict_is_not_used_past_the_end_of_the_agreement() -> None:
    ends = datetime.now(UTC) + timedelta(hours=1)
    isa = _isa(period=Period(datetime.now(UTC) - timedelta(days=1), ends))
    policy = RoutingPolicy(index=AgreementIndex.build([isa], CATALOG, version=1))
    assert _check(policy, ends - timedelta(seconds=1)) == "delivered"
    assert _check(policy, ends) == "agreement.expired"
