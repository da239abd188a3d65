"""The hub's network: subscribe, unsubscribe, look up; refusals are outcomes, and every decision is audited."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from hub.agreements import service as agreements
from hub.audit.models import AuditEvent
from hub.network import service
from hub.network.enums import NetworkRole
from onedoor.errors import Conflict, Forbidden, ValidationFailed
from tests.unit.network.conftest import CHARITY, CHILD, LEAD, NEW_CSC, NEW_TEAM, POLICE, agree, audit_rows


def test_members_subscribe_and_see_the_network_lead_first(agencies: Session) -> None:
    agree(agencies, "isa-unit-lead-police", LEAD, POLICE)
    service.subscribe(agencies, CHILD, POLICE, None).unwrap()
    service.subscribe(agencies, CHILD, LEAD, NetworkRole.LEAD).unwrap()
    network = service.lookup(agencies, CHILD, POLICE).unwrap()
    assert [(m.agency_id, m.role) for m in network.members] == [(LEAD, NetworkRole.LEAD), (POLICE, NetworkRole.MEMBER)]
    assert network.withheld == 0
    assert audit_rows(agencies, "network.subscribe") == [(POLICE, "opened", None), (LEAD, "opened", None)]
    assert audit_rows(agencies, "network.lookup") == [(POLICE, "permit", None)]


def test_a_member_sees_only_the_members_it_has_an_agreement_with_and_how_many_it_does_not(
    agencies: Session,
) -> None:
    agree(agencies, "isa-unit-lead-police", LEAD, POLICE)
    service.subscribe(agencies, CHILD, LEAD, NetworkRole.LEAD).unwrap()
    for agency in (POLICE, CHARITY, NEW_TEAM):
        service.subscribe(agencies, CHILD, agency, None).unwrap()
    police = service.lookup(agencies, CHILD, POLICE).unwrap()
    assert [m.agency_id for m in police.members] == [LEAD, POLICE]
    assert police.withheld == 2, "the charity and the county team: counted, never named"
    charity = service.lookup(agencies, CHILD, CHARITY).unwrap()
    assert [m.agency_id for m in charity.members] == [CHARITY], "no agreement with anyone: only itself"
    assert charity.withheld == 3
    assert charity.lead is None, "the lead is withheld too"
    rows = agencies.query(AuditEvent).filter(AuditEvent.kind == "network.lookup").order_by(AuditEvent.id).all()
    assert [(r.actor, r.outcome, r.detail) for r in rows] == [
        (POLICE, "permit", "members=2; withheld=2"),
        (CHARITY, "permit", "members=1; withheld=3"),
    ]


def test_a_suspended_agreement_shows_nobody(agencies: Session) -> None:
    agree(agencies, "isa-unit-lead-police", LEAD, POLICE)
    service.subscribe(agencies, CHILD, LEAD, NetworkRole.LEAD).unwrap()
    service.subscribe(agencies, CHILD, POLICE, None).unwrap()
    agreements.suspend(agencies, "isa-unit-lead-police", by="test")
    police = service.lookup(agencies, CHILD, POLICE).unwrap()
    assert [m.agency_id for m in police.members] == [POLICE]
    assert police.withheld == 1


def test_claiming_the_lead_of_a_network_with_members_needs_an_agreement_with_one_of_them(agencies: Session) -> None:
    agree(agencies, "isa-unit-lead-police", LEAD, POLICE)
    service.subscribe(agencies, CHILD, POLICE, None).unwrap()
    refused = service.subscribe(agencies, CHILD, CHARITY, NetworkRole.LEAD)
    assert isinstance(refused.error, Forbidden)
    assert refused.error.code == "network.lead_needs_agreement"
    assert service.open_members(agencies, CHILD).member(CHARITY) is None, "nothing changed"
    assert service.subscribe(agencies, CHILD, CHARITY, None).unwrap().role is NetworkRole.MEMBER
    promoted = service.subscribe(agencies, CHILD, CHARITY, NetworkRole.LEAD)
    assert isinstance(promoted.error, Forbidden), "a member without an agreement is not promoted either"
    assert service.subscribe(agencies, CHILD, LEAD, NetworkRole.LEAD).unwrap().role is NetworkRole.LEAD
    assert audit_rows(agencies, "network.subscribe") == [
        (POLICE, "opened", None),
        (CHARITY, "refused", "network.lead_needs_agreement"),
        (CHARITY, "opened", None),
        (CHARITY, "refused", "network.lead_needs_agreement"),
        (LEAD, "opened", None),
    ]
    alone = "st1_FAKEunitNobodyAtAll00001"
    assert service.subscribe(agencies, alone, CHARITY, NetworkRole.LEAD).unwrap().role is NetworkRole.LEAD, (
        "the first agency on a child leads without an agreement: there is nobody to learn about"
    )


def test_subscribing_twice_keeps_one_open_membership(agencies: Session) -> None:
    first = service.subscribe(agencies, CHILD, POLICE, None).unwrap()
    again = service.subscribe(agencies, CHILD, POLICE, NetworkRole.MEMBER).unwrap()
    assert again.id == first.id
    assert audit_rows(agencies, "network.subscribe")[-1] == (POLICE, "unchanged", None)


def test_a_member_becomes_lead_when_nobody_leads_but_not_when_someone_does(agencies: Session) -> None:
    service.subscribe(agencies, CHILD, POLICE, None).unwrap()
    assert service.subscribe(agencies, CHILD, POLICE, NetworkRole.LEAD).unwrap().role is NetworkRole.LEAD
    refused = service.subscribe(agencies, CHILD, LEAD, NetworkRole.LEAD)
    assert isinstance(refused.error, Conflict)
    assert refused.error.code == "network.lead_taken"
    assert audit_rows(agencies, "network.subscribe")[-1] == (LEAD, "refused", "network.lead_taken")
    assert service.open_members(agencies, CHILD).member(LEAD) is None, "nothing changed"


def test_a_non_member_is_refused_the_same_whether_or_not_the_network_exists(agencies: Session) -> None:
    empty = service.lookup(agencies, "st1_FAKEunitNobodyAtAll00001", NEW_CSC)
    service.subscribe(agencies, CHILD, POLICE, None).unwrap()
    other = service.lookup(agencies, CHILD, NEW_CSC)
    for refused in (empty, other):
        assert isinstance(refused.error, Forbidden)
        assert refused.error.code == "network.not_a_member"
    assert empty.error is not None
    assert other.error is not None
    assert empty.error.message == other.error.message
    assert audit_rows(agencies, "network.lookup") == [(NEW_CSC, "deny", "network.not_a_member")] * 2
    with pytest.raises(Forbidden):
        other.unwrap()


def test_unsubscribing_closes_the_membership_and_keeps_its_history(agencies: Session) -> None:
    service.subscribe(agencies, CHILD, CHARITY, None).unwrap()
    assert service.unsubscribe(agencies, CHILD, CHARITY).unwrap() is True
    assert service.unsubscribe(agencies, CHILD, CHARITY).unwrap() is False
    assert isinstance(service.lookup(agencies, CHILD, CHARITY).error, Forbidden)
    assert audit_rows(agencies, "network.unsubscribe") == [
        (CHARITY, "closed", None),
        (CHARITY, "not-a-member", "network.not_a_member"),
    ]
    again = service.subscribe(agencies, CHILD, CHARITY, None).unwrap()
    assert again.closed_at is None, "a new case opens a new membership"


@pytest.mark.parametrize(
    "raw",
    ["not-a-token", "st1_short", "Testy McFakeface", "st1_" + "x" * 87],
    ids=["no prefix", "too short", "a name typed in", "too long"],
)
def test_a_malformed_token_is_refused_and_audited_without_its_value(agencies: Session, raw: str) -> None:
    for outcome in (
        service.subscribe(agencies, raw, POLICE, None),
        service.unsubscribe(agencies, raw, POLICE),
        service.lookup(agencies, raw, POLICE),
    ):
        assert isinstance(outcome.error, ValidationFailed)
        assert outcome.error.code == "subject_token.invalid"
    rows = agencies.query(AuditEvent).filter(AuditEvent.outcome == "invalid").all()
    assert len(rows) == 3
    assert all(r.subject_token is None and raw not in (r.detail or "") for r in rows)
