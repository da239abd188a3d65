"""Definitions that cannot be right are refused with a stable code, when they are built, with a sentence why."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent import (
    AccessLevel,
    Actor,
    ActorScope,
    AgreementIndex,
    Article6,
    Article9,
    DataClass,
    DpaCondition,
    Invalid,
    LawfulBasis,
    Period,
    Provision,
    Statute,
    TaggedContract,
    parse_data_class,
)
from onedoor.errors import ValidationFailed
from tests.unit.consent.world import (
    ACK,
    ALERT,
    CATALOG,
    CHARITY,
    COUNTY_POLICE,
    REFERRAL,
    TESTBOROUGH,
    agency,
    agreement,
    bilateral,
)

POLICE_AND_COUNCIL = [agency(COUNTY_POLICE), agency(TESTBOROUGH)]
BASIC_BASIS = LawfulBasis(Article6.PUBLIC_TASK)


def build(*agreements: Any) -> AgreementIndex:
    return AgreementIndex.build(agreements, CATALOG)


def ambiguous_schema() -> str:
    first = {"type": "record", "name": "A", "fields": [{"name": "x", "type": "string", "sensitivity": "identity"}]}
    second = {"type": "record", "name": "B", "fields": [{"name": "x", "type": "string", "sensitivity": "operational"}]}
    field = {"name": "who", "type": [first, second], "sensitivity": "identity"}
    return json.dumps({"type": "record", "name": "Thing", "namespace": "test.consent", "fields": [field]})


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], object]
    code: Invalid
    why: str


CASES = [
    Case(
        "provision/empty-classes", lambda: Provision.permit(classes=[]), Invalid.EMPTY_SET,
        "An empty set would match nothing; 'any' is written by leaving the dimension unset.",
    ),
    Case(
        "provision/exception-outside-parent-class",
        lambda: Provision.permit(
            classes=[DataClass.OPERATIONAL], provisions=[Provision.deny(classes=[DataClass.HEALTH])]
        ),
        Invalid.OUTSIDE_PARENT, "An exception about health inside a permit of operational data could never apply.",
    ),
    Case(
        "provision/exception-outside-parent-period",
        lambda: Provision.permit(
            period=Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
            provisions=[
                Provision.deny(period=Period(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)))
            ],
        ),
        Invalid.OUTSIDE_PARENT, "Half of that exception's period lies where its parent never applies.",
    ),
    Case(
        "provision/purpose-not-in-agreement",
        lambda: agreement("isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit(purposes=["nrm-referral"])]),
        Invalid.PURPOSE_NOT_IN_AGREEMENT, "A provision cannot widen the agreement's purposes.",
    ),
    Case(
        "provision/conflict",
        lambda: agreement(
            "isa-fake-x", POLICE_AND_COUNCIL,
            [
                Provision.permit(classes=[DataClass.HEALTH]),
                Provision.deny(classes=[DataClass.HEALTH, DataClass.IDENTITY]),
            ],
        ),
        Invalid.CONFLICT, "The permit is entirely covered by a deny for the same actors, so it could never apply.",
    ),
    Case(
        "period/ends-before-it-starts",
        lambda: Period(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)), Invalid.BAD_PERIOD,
        "A period must end after it starts.",
    ),
    Case(
        "period/naive-time", lambda: Period(datetime(2026, 2, 1)), Invalid.BAD_PERIOD,
        "A time without a zone means different instants on different machines.",
    ),
    Case(
        "agreement/version-zero",
        lambda: agreement("isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit()], version=0), Invalid.BAD_VERSION,
        "Versions start at 1.",
    ),
    Case(
        "agreement/one-agency", lambda: agreement("isa-fake-x", [agency(COUNTY_POLICE)], [Provision.permit()]),
        Invalid.PARTIES, "An agency cannot agree with itself.",
    ),
    Case(
        "agreement/kind-as-party",
        lambda: agreement("isa-fake-x", [agency(COUNTY_POLICE), Actor.kind("charity")], [Provision.permit()]),
        Invalid.PARTIES, "Parties sign: every charity in the country cannot be one.",
    ),
    Case(
        "agreement/no-purpose", lambda: agreement("isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit()], purposes=()),
        Invalid.NOTHING_AGREED, "An agreement must say what the sharing is for.",
    ),
    Case(
        "agreement/no-retention",
        lambda: replace(bilateral("isa-fake-x", COUNTY_POLICE, TESTBOROUGH), retention=timedelta(0)),
        Invalid.BAD_RETENTION, "Recipients must know how long they may keep what they receive.",
    ),
    Case(
        "agreement/anyone-actor", lambda: Actor(ActorScope.ANYONE, "someone"), Invalid.BAD_ACTOR,
        "'Anyone' takes no name.",
    ),
    Case(
        "index/duplicate-id",
        lambda: build(
            bilateral("isa-fake-x", COUNTY_POLICE, TESTBOROUGH), bilateral("isa-fake-x", COUNTY_POLICE, CHARITY)
        ),
        Invalid.DUPLICATE, "One id, one agreement: versions replace each other, they do not coexist.",
    ),
    Case(
        "index/unknown-purpose",
        lambda: build(
            agreement("isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit()], purposes=["general-curiosity"])
        ),
        Invalid.UNKNOWN_PURPOSE, "Purposes come from the catalogue, so every admin reads them the same way.",
    ),
    Case(
        "index/unknown-contract",
        lambda: build(
            agreement(
                "isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit()],
                contracts=[TaggedContract.from_tags("test.consent.Unregistered", 1, {"id": DataClass.OPERATIONAL})],
            )
        ),
        Invalid.UNKNOWN_CONTRACT, "An agreement can only cover registered contracts.",
    ),
    Case(
        "index/class-not-in-contract",
        lambda: build(
            agreement(
                "isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit(classes=[DataClass.HEALTH])], contracts=[ALERT]
            )
        ),
        Invalid.CLASS_NOT_IN_CONTRACT,
        "Alerts carry no health field: the admin would believe something is shared that never is.",
    ),
    Case(
        "index/limited-on-ack-only",
        lambda: build(
            agreement(
                "isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit(classes=AccessLevel.LIMITED)], contracts=[ACK]
            )
        ),
        Invalid.CLASS_NOT_IN_CONTRACT,
        "'Limited' names contact and safeguarding data, which acknowledgements never carry.",
    ),
    Case(
        "index/health-without-art9",
        lambda: build(bilateral("isa-fake-x", COUNTY_POLICE, TESTBOROUGH, basis=BASIC_BASIS)),
        Invalid.NO_SPECIAL_CATEGORY_CONDITION, "Health data is special category: Art. 6 alone is not enough.",
    ),
    Case(
        "index/criminal-intelligence-without-condition",
        lambda: build(
            agreement(
                "isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit(classes=[DataClass.CRIMINAL_INTELLIGENCE])],
                basis=BASIC_BASIS,
            )
        ),
        Invalid.NO_CRIMINAL_OFFENCE_CONDITION, "Criminal offence data needs a DPA 2018 condition (UK GDPR Art. 10).",
    ),
    Case(
        "index/unknown-agency-party",
        lambda: build(bilateral("isa-fake-x", COUNTY_POLICE, "unregistered-fake-agency")),
        Invalid.UNKNOWN_ACTOR, "A party must be a registered agency.",
    ),
    Case(
        "index/unknown-group",
        lambda: build(
            agreement("isa-fake-x", [agency(COUNTY_POLICE), Actor.group("fake-nowhere")], [Provision.permit()])
        ),
        Invalid.UNKNOWN_ACTOR, "A group must exist in the directory.",
    ),
    Case(
        "index/unknown-kind",
        lambda: build(
            agreement("isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit(recipients=Actor.kind("astronauts"))])
        ),
        Invalid.UNKNOWN_ACTOR, "A kind no agency has is a typo.",
    ),
    Case(
        "index/actor-not-party",
        lambda: build(agreement("isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit(recipients=agency(CHARITY))])),
        Invalid.ACTOR_NOT_PARTY, "A provision cannot give data to an agency that did not sign.",
    ),
    Case(
        "basis/para18-with-health-care-condition",
        lambda: LawfulBasis(
            Article6.PUBLIC_TASK, Article9.HEALTH_OR_SOCIAL_CARE, frozenset({DpaCondition.SCH1_PARA18})
        ),
        Invalid.BASIS_MISMATCH, "Sch. 1 para 18 is a substantial public interest condition: it serves Art. 9(2)(g).",
    ),
    Case(
        "basis/consent-and-para18",
        lambda: LawfulBasis(Article6.CONSENT, None, frozenset({DpaCondition.SCH1_PARA18})),
        Invalid.BASIS_CONTRADICTION, "Para 18 covers sharing without consent; it cannot sit on a consent basis.",
    ),
    Case(
        "basis/legal-obligation-without-statute", lambda: LawfulBasis(Article6.LEGAL_OBLIGATION),
        Invalid.STATUTE_REQUIRED, "UK GDPR Art. 6(3): the obligation must be laid down by law, so name it.",
    ),
    Case(
        "contract/ambiguous-union-tags", lambda: TaggedContract.from_schema(ambiguous_schema(), 1),
        Invalid.AMBIGUOUS_TAG, "One path, two tags: the engine cannot know which applies, so it refuses the contract.",
    ),
    Case(
        "pin/contract-not-covered",
        lambda: replace(bilateral("isa-fake-x", COUNTY_POLICE, TESTBOROUGH), contract_versions={ALERT.name: 1}),
        Invalid.PIN_NOT_COVERED, "A pin names a version of a contract the agreement covers; not the alert.",
    ),
    Case(
        "pin/version-zero",
        lambda: replace(bilateral("isa-fake-x", COUNTY_POLICE, TESTBOROUGH), contract_versions={REFERRAL.name: 0}),
        Invalid.PIN_NOT_COVERED, "Contract versions count from 1.",
    ),
    Case(
        "pin/version-not-registered",
        lambda: build(
            replace(bilateral("isa-fake-x", COUNTY_POLICE, TESTBOROUGH), contract_versions={REFERRAL.name: 9})
        ),
        Invalid.CONTRACT_VERSION_UNKNOWN, "Nobody can have approved a contract version that is not registered.",
    ),
    Case(
        "parse/unknown-data-class", lambda: parse_data_class("secrets"), Invalid.UNKNOWN_DATA_CLASS,
        "Only the eight sensitivity tags are data classes.",
    ),
    Case(
        "parse/unknown-access-level", lambda: AccessLevel.parse("medium"), Invalid.UNKNOWN_ACCESS_LEVEL,
        "The presets are full and limited.",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_invalid_definition(case: Case) -> None:
    with pytest.raises(ValidationFailed) as caught:
        case.make()
    assert caught.value.code == case.code.value
    assert caught.value.http_status == 422
    assert caught.value.message


def test_every_code_is_exercised_or_documented() -> None:
    exercised = {c.code for c in CASES}
    # Reached through other tests: consent records and overrides (test_consent_rule.py).
    elsewhere = {Invalid.CONSENT_RECORD, Invalid.OVERRIDE}
    assert set(Invalid) - exercised - elsewhere == set()


def test_good_bases_pass() -> None:
    LawfulBasis(
        Article6.PUBLIC_TASK,
        Article9.SUBSTANTIAL_PUBLIC_INTEREST,
        frozenset({DpaCondition.SCH1_PARA18, DpaCondition.SCH8_PARA4}),
        frozenset({Statute.CHILDREN_ACT_1989_S47}),
    )
    basis = LawfulBasis(Article6.PUBLIC_TASK, Article9.HEALTH_OR_SOCIAL_CARE, frozenset({DpaCondition.SCH1_PARA2}))
    assert basis.citation() == "UK GDPR Art. 6(1)(e); UK GDPR Art. 9(2)(h); DPA 2018 Sch. 1 para 2"
    assert LawfulBasis(Article6.CONSENT).rests_on_consent
    assert LawfulBasis(Article6.PUBLIC_TASK, Article9.EXPLICIT_CONSENT).rests_on_consent
    assert not basis.rests_on_consent


def test_naming_all_eight_classes_is_every_class() -> None:
    """Full access names every class; an alert-only agreement may use it although alerts carry no health field."""
    ag = agreement("isa-fake-x", POLICE_AND_COUNCIL, [Provision.permit(classes=AccessLevel.FULL)], contracts=[ALERT])
    assert len(build(ag)) == 1
