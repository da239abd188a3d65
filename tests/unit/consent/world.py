"""A synthetic federation for the consent engine's tests. Every agency and agreement is obviously fake."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from consent import (
    ALWAYS,
    AccessLevel,
    Action,
    Actor,
    Agreement,
    AgreementId,
    AgreementIndex,
    AgreementState,
    Article6,
    Article9,
    Catalog,
    ConsentState,
    DataClass,
    DecisionRequest,
    DpaCondition,
    GroupName,
    LawfulBasis,
    Member,
    Period,
    Provision,
    Statute,
    TaggedContract,
)
from contracts.catalog import bundled_contract
from onedoor.ids import AgencyId, Purpose

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)

REFERRAL = TaggedContract.from_schema(bundled_contract("onedoor.referral.MasterReferral"), 1)
ALERT = TaggedContract.from_schema(bundled_contract("onedoor.alert.Alert"), 1)
ACK = TaggedContract.from_schema(bundled_contract("onedoor.ack.Acknowledgement"), 1)
CONTRACTS = {"referral": REFERRAL, "alert": ALERT, "ack": ACK}

LONDON = GroupName("fake-london-boroughs")
REGION = GroupName("fake-test-region")

COUNTY_POLICE = AgencyId("test-county-police")
METRO_POLICE = AgencyId("fake-metro-police")
TESTBOROUGH = AgencyId("lb-testborough-csc")
EXAMPLEHAM = AgencyId("lb-exampleham-csc")
SAMPLETON = AgencyId("lb-sampleton-csc")
TESTSHIRE = AgencyId("testshire-csc")
CHARITY = AgencyId("fake-youth-charity")
YOT = AgencyId("testborough-yot")
ACADEMY = AgencyId("example-academy")
CAMHS = AgencyId("fake-clinic-camhs")

MEMBERS = (
    Member(COUNTY_POLICE, "police", frozenset({REGION})),
    Member(METRO_POLICE, "police"),
    Member(TESTBOROUGH, "children-services", frozenset({LONDON})),
    Member(EXAMPLEHAM, "children-services", frozenset({LONDON})),
    Member(SAMPLETON, "children-services", frozenset({LONDON})),
    Member(TESTSHIRE, "children-services", frozenset({REGION})),
    Member(CHARITY, "charity"),
    Member(YOT, "youth-offending", frozenset({LONDON})),
    Member(ACADEMY, "education"),
    Member(CAMHS, "health"),
)
CATALOG = Catalog.of(MEMBERS, CONTRACTS.values())

REFERRAL_PURPOSE = Purpose("safeguarding-referral")
ALERT_PURPOSE = Purpose("safeguarding-alert")
STRATEGY = Purpose("strategy-discussion")
COORDINATION = Purpose("case-coordination")
STATUS = Purpose("status-check")

SAFEGUARDING_BASIS = LawfulBasis(
    Article6.PUBLIC_TASK,
    Article9.SUBSTANTIAL_PUBLIC_INTEREST,
    frozenset({DpaCondition.SCH1_PARA18, DpaCondition.SCH8_PARA4}),
    frozenset({Statute.CHILDREN_ACT_2004_S11, Statute.CHILDREN_ACT_1989_S47}),
)
CONSENT_BASIS = LawfulBasis(Article6.CONSENT, Article9.EXPLICIT_CONSENT)


def agency(name: str) -> Actor:
    return Actor.agency(name)


def agreement(
    ident: str,
    parties: Iterable[Actor],
    provisions: Iterable[Provision],
    *,
    purposes: Iterable[str] = (REFERRAL_PURPOSE,),
    contracts: Iterable[TaggedContract] = (REFERRAL,),
    state: AgreementState = AgreementState.ACTIVE,
    basis: LawfulBasis = SAFEGUARDING_BASIS,
    period: Period = ALWAYS,
    review: date = date(2030, 1, 1),
    version: int = 1,
) -> Agreement:
    """An agreement with sensible defaults for everything a case does not care about."""
    return Agreement(
        id=AgreementId(ident),
        version=version,
        state=state,
        parties=frozenset(parties),
        contracts=frozenset(c.name for c in contracts),
        purposes=frozenset(Purpose(p) for p in purposes),
        provisions=tuple(provisions),
        lawful_basis=basis,
        retention=timedelta(days=365),
        review_date=review,
        period=period,
    )


def bilateral(ident: str, a: str, b: str, *, state: AgreementState = AgreementState.ACTIVE, **kw: Any) -> Agreement:
    """Two agencies, everything both ways."""
    return agreement(ident, [agency(a), agency(b)], [Provision.permit(classes=AccessLevel.FULL)], state=state, **kw)


PILOT = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))

AGREEMENTS = (
    # County police <-> Testborough: police send everything; Testborough answers with "limited" and
    # answers status checks with operational data only.
    agreement(
        "isa-county-police-testborough",
        [agency(COUNTY_POLICE), agency(TESTBOROUGH)],
        [
            Provision.permit(senders=agency(COUNTY_POLICE), recipients=agency(TESTBOROUGH), classes=AccessLevel.FULL),
            Provision.permit(
                senders=agency(TESTBOROUGH),
                recipients=agency(COUNTY_POLICE),
                actions=[Action.SEND],
                classes=AccessLevel.LIMITED,
            ),
            Provision.permit(
                senders=agency(TESTBOROUGH),
                recipients=agency(COUNTY_POLICE),
                actions=[Action.QUERY],
                classes=[DataClass.OPERATIONAL],
            ),
        ],
        purposes=(REFERRAL_PURPOSE, ALERT_PURPOSE, STRATEGY, STATUS),
        contracts=(REFERRAL, ALERT, ACK),
    ),
    # The Metro police and every London borough (a group party).
    agreement(
        "isa-metro-london",
        [agency(METRO_POLICE), Actor.group(LONDON)],
        [
            Provision.permit(
                senders=agency(METRO_POLICE),
                recipients=Actor.group(LONDON),
                classes=AccessLevel.FULL,
                provisions=[
                    Provision.deny(
                        recipients=Actor.kind("youth-offending"),
                        classes=[DataClass.HEALTH, DataClass.CRIMINAL_INTELLIGENCE],
                    )
                ],
            ),
            Provision.permit(senders=Actor.group(LONDON), recipients=agency(METRO_POLICE), classes=AccessLevel.LIMITED),
            Provision.deny(senders=Actor.group(LONDON), recipients=agency(METRO_POLICE), classes=[DataClass.CONTACT]),
            Provision.permit(senders=agency(SAMPLETON), recipients=agency(METRO_POLICE), classes=[DataClass.CONTACT]),
            Provision.deny(senders=Actor.kind("youth-offending"), recipients=agency(METRO_POLICE)),
        ],
        purposes=(REFERRAL_PURPOSE, ALERT_PURPOSE),
        contracts=(REFERRAL, ALERT),
    ),
    # London boroughs among themselves: alerts for case coordination only.
    agreement(
        "isa-london-mutual",
        [Actor.group(LONDON)],
        [Provision.permit(classes=AccessLevel.LIMITED)],
        purposes=(COORDINATION,),
        contracts=(ALERT,),
    ),
    # A charity service that the young person joins by consent.
    agreement(
        "isa-testborough-charity",
        [agency(TESTBOROUGH), agency(CHARITY)],
        [
            Provision.permit(
                senders=agency(TESTBOROUGH),
                recipients=agency(CHARITY),
                classes=[DataClass.OPERATIONAL, DataClass.SAFEGUARDING, DataClass.CONTACT, DataClass.IDENTITY],
            )
        ],
        purposes=(REFERRAL_PURPOSE, COORDINATION),
        basis=CONSENT_BASIS,
    ),
    # A YOT pilot: criminal intelligence and identity only during the pilot.
    agreement(
        "isa-county-police-yot",
        [agency(COUNTY_POLICE), agency(YOT)],
        [
            Provision.permit(senders=agency(COUNTY_POLICE), recipients=agency(YOT), classes=AccessLevel.LIMITED),
            Provision.permit(
                senders=agency(COUNTY_POLICE),
                recipients=agency(YOT),
                classes=[DataClass.CRIMINAL_INTELLIGENCE, DataClass.IDENTITY],
                period=PILOT,
            ),
        ],
        contracts=(REFERRAL, ALERT),
    ),
    bilateral("isa-county-police-testshire", COUNTY_POLICE, TESTSHIRE, state=AgreementState.REVOKED),
    bilateral("isa-testshire-academy", TESTSHIRE, ACADEMY, state=AgreementState.SUSPENDED),
    bilateral("isa-county-police-camhs", COUNTY_POLICE, CAMHS, state=AgreementState.PROPOSED),
    bilateral("isa-metro-testshire", METRO_POLICE, TESTSHIRE, period=Period(None, datetime(2026, 1, 1, tzinfo=UTC))),
    bilateral("isa-yot-academy", YOT, ACADEMY, period=Period(datetime(2027, 1, 1, tzinfo=UTC))),
    bilateral("isa-academy-exampleham", ACADEMY, EXAMPLEHAM, review=date(2025, 6, 1)),
    # Alongside the consent agreement: status updates to the charity under a safeguarding basis.
    agreement(
        "isa-testborough-charity-updates",
        [agency(TESTBOROUGH), agency(CHARITY)],
        [
            Provision.permit(
                senders=agency(TESTBOROUGH),
                recipients=agency(CHARITY),
                classes=[DataClass.OPERATIONAL, DataClass.SAFEGUARDING],
            )
        ],
        purposes=(COORDINATION,),
    ),
)


def index(agreements: Iterable[Agreement] = AGREEMENTS, version: int = 1) -> AgreementIndex:
    return AgreementIndex.build(agreements, CATALOG, version=version)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def request(
    sender: str,
    recipient: str,
    purpose: str = REFERRAL_PURPOSE,
    *,
    contract: TaggedContract = REFERRAL,
    consent: ConsentState | None = None,
    action: Action = Action.SEND,
    at: datetime = NOW,
    agreement_id: str | None = None,
) -> DecisionRequest:
    return DecisionRequest(
        sender=AgencyId(sender),
        recipient=AgencyId(recipient),
        contract=contract,
        purpose=Purpose(purpose),
        at_ms=ms(at),
        consent=consent,
        action=action,
        agreement_id=None if agreement_id is None else AgreementId(agreement_id),
    )


def with_state(agreement: Agreement, state: AgreementState, version: int | None = None) -> Agreement:
    return replace(agreement, state=state, version=agreement.version + 1 if version is None else version)
