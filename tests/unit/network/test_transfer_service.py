"""Case transfer at the hub: offer (lead only, known candidates), accept once (the network moves), withdraw."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from hub.network import service as network
from hub.network.enums import NetworkRole
from hub.transfers import service
from hub.transfers.enums import TransferStatus
from onedoor.errors import Conflict, Forbidden, NotFound, OneDoorError, ValidationFailed
from onedoor.ids import AgencyId
from tests.unit.network.conftest import CHARITY, CHILD, LEAD, NEW_CSC, NEW_TEAM, POLICE, SUSPENDED, audit_rows


@pytest.fixture
def networked(agencies: Session) -> Session:
    """The borough leads the child's network; the Met and a charity are members."""
    network.subscribe(agencies, CHILD, LEAD, NetworkRole.LEAD).unwrap()
    network.subscribe(agencies, CHILD, POLICE, None).unwrap()
    network.subscribe(agencies, CHILD, CHARITY, None).unwrap()
    return agencies


def _offer(session: Session, *candidates: AgencyId, caller: AgencyId = LEAD) -> str:
    return service.offer(session, CHILD, caller, list(candidates)).unwrap().transfer_id


def test_the_first_acceptance_wins_and_the_network_moves_with_the_child(networked: Session) -> None:
    transfer_id = _offer(networked, NEW_TEAM, NEW_CSC)
    accepted = service.accept(networked, transfer_id, NEW_CSC).unwrap()
    assert accepted.previous_lead == LEAD
    assert accepted.transfer.status is TransferStatus.ACCEPTED
    now = network.open_members(networked, CHILD)
    assert next((m.agency_id, m.role) for m in now.members) == (NEW_CSC, NetworkRole.LEAD)
    assert {m.agency_id for m in now.members} == {NEW_CSC, POLICE, CHARITY}, "the others stay; the old lead is gone"
    assert [a for a, _ in accepted.previous_network] == [LEAD, POLICE, CHARITY]
    assert service.previous_network(networked, accepted.transfer)[0] == (LEAD, NetworkRole.LEAD)
    second = service.accept(networked, transfer_id, NEW_TEAM)
    assert isinstance(second.error, Conflict)
    assert second.error.code == "transfer.already_accepted"
    assert "another agency" in second.error.message
    assert audit_rows(networked, "transfer.accept") == [
        (NEW_CSC, "accepted", None),
        (NEW_TEAM, "refused", "transfer.already_accepted"),
    ]
    assert isinstance(network.lookup(networked, CHILD, LEAD).error, Forbidden)


def test_the_acceptor_accepting_again_gets_the_same_answer_and_nothing_moves(networked: Session) -> None:
    transfer_id = _offer(networked, NEW_CSC, NEW_TEAM)
    first = service.accept(networked, transfer_id, NEW_CSC).unwrap()
    again = service.accept(networked, transfer_id, NEW_CSC).unwrap()
    assert again.transfer.accepted_by == NEW_CSC
    assert again.previous_lead == first.previous_lead == LEAD
    assert list(again.previous_network) == list(first.previous_network)
    assert [m.agency_id for m in again.network.members] == [m.agency_id for m in first.network.members]
    other = service.accept(networked, transfer_id, NEW_TEAM)
    assert isinstance(other.error, Conflict), "another candidate is still refused"
    assert other.error.code == "transfer.already_accepted"
    assert audit_rows(networked, "transfer.accept") == [
        (NEW_CSC, "accepted", None),
        (NEW_CSC, "unchanged", None),
        (NEW_TEAM, "refused", "transfer.already_accepted"),
    ]


def test_an_acceptor_already_in_the_network_is_promoted_not_doubled(networked: Session) -> None:
    transfer_id = _offer(networked, POLICE)
    service.accept(networked, transfer_id, POLICE).unwrap()
    members = network.open_members(networked, CHILD).members
    assert [(m.agency_id, m.role) for m in members] == [(POLICE, NetworkRole.LEAD), (CHARITY, NetworkRole.MEMBER)]


@pytest.mark.parametrize(
    ("caller", "candidates", "code"),
    [
        (NEW_CSC, [NEW_TEAM], "network.not_a_member"),  # no case on the child at all
        (POLICE, [NEW_CSC], "transfer.not_the_lead"),  # a member, but only the lead hands a case on
        (LEAD, [AgencyId("unit-nobody-registered")], "transfer.unknown_candidate"),
        (LEAD, [SUSPENDED], "transfer.unknown_candidate"),  # registered but suspended
        (LEAD, [LEAD], "transfer.unknown_candidate"),  # offering to itself
        (LEAD, [], "transfer.no_candidates"),
    ],
    ids=["outsider", "member-not-lead", "unregistered", "suspended", "itself", "nobody"],
)
def test_bad_offers_are_refused_with_their_code_and_audited(
    networked: Session, caller: AgencyId, candidates: list[AgencyId], code: str
) -> None:
    refused = service.offer(networked, CHILD, caller, candidates)
    assert isinstance(refused.error, OneDoorError)
    assert refused.error.code == code
    assert audit_rows(networked, "transfer.offer") == [(caller, "refused", code)]


def test_a_second_open_offer_for_the_same_child_is_refused(networked: Session) -> None:
    first = _offer(networked, NEW_CSC)
    refused = service.offer(networked, CHILD, LEAD, [NEW_TEAM])
    assert isinstance(refused.error, Conflict)
    assert refused.error.code == "transfer.already_offered"
    assert first in refused.error.message


def test_only_candidates_accept_and_only_the_offerer_and_candidates_read(networked: Session) -> None:
    transfer_id = _offer(networked, NEW_CSC)
    outsider = service.accept(networked, transfer_id, NEW_TEAM)
    assert isinstance(outsider.error, Forbidden)
    assert outsider.error.code == "transfer.not_a_candidate"
    assert service.get(networked, transfer_id, NEW_CSC).unwrap().transfer_id == transfer_id
    hidden = service.get(networked, transfer_id, CHARITY)
    missing = service.get(networked, "00000000-0000-4000-8000-000000000000", CHARITY)
    assert isinstance(hidden.error, NotFound)
    assert isinstance(missing.error, NotFound)
    assert hidden.error.message == missing.error.message, "existence is not revealed"
    unknown = service.accept(networked, "not-a-transfer-id", NEW_CSC)
    assert isinstance(unknown.error, NotFound)


def test_a_withdrawn_offer_cannot_be_accepted(networked: Session) -> None:
    transfer_id = _offer(networked, NEW_CSC)
    not_mine = service.withdraw(networked, transfer_id, POLICE)
    assert isinstance(not_mine.error, NotFound)
    unknown = service.withdraw(networked, "99999999-2222-4333-8444-555555555555", POLICE)
    assert isinstance(unknown.error, NotFound)
    assert (not_mine.error.code, not_mine.error.message) == (unknown.error.code, unknown.error.message), (
        "a non-offerer learns nothing: the same answer as for a transfer that does not exist"
    )
    assert not_mine.error.code == "transfer.not_found"
    assert service.withdraw(networked, transfer_id, LEAD).unwrap().status is TransferStatus.WITHDRAWN
    late = service.accept(networked, transfer_id, NEW_CSC)
    assert isinstance(late.error, Conflict)
    assert late.error.code == "transfer.withdrawn"
    assert network.open_members(networked, CHILD).lead is not None
    assert network.open_members(networked, CHILD).member(LEAD) is not None, "nothing moved"
    again = service.withdraw(networked, transfer_id, LEAD)
    assert isinstance(again.error, Conflict)


def test_a_malformed_token_in_an_offer_is_refused(networked: Session) -> None:
    refused = service.offer(networked, "Synthia Example", LEAD, [NEW_CSC])
    assert isinstance(refused.error, ValidationFailed)
    assert refused.error.code == "subject_token.invalid"
