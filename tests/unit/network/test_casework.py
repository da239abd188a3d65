"""Connector-side casework without a broker: alert fan-out under the policy, minimal offers, the handover check.

The hub is an in-memory fake of the ``HubCaller`` interface; the connector is never started and
records what it would publish. Every envelope is opened as its recipient would open it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from connectors.casework import (
    ALERT,
    ALERT_PURPOSE,
    TRANSFER_ACCEPTED,
    DirectoryCaseFiles,
    HandoverDesk,
    MemoryCaseFiles,
    alert_body,
    offer_transfer,
    send_alert,
)
from connectors.sdk.connector import Connector, ReceivedMessage, Sealed
from connectors.sdk.policy import SharingDenied, SharingPolicy
from consent.agreement import AgreementState
from contracts.catalog import bundled
from hub.agreements.schemas import AgreementBody
from hub.policy.schemas import PolicyAgency, PolicyAgreement, PolicyContract, PolicyDocument
from onedoor.errors import Forbidden, NotFound, Unavailable, ValidationFailed
from onedoor.ids import AgencyId, SubjectToken, TransferId
from tests.unit.connectors.world import CASEWORK, CHARITY, COUNCIL, KINDS, POLICE, YOT, Agencies

ALERT_CLASSES = [c for c in CASEWORK if c != "demographic"]
"""The council's classes: no criminal intelligence, and nothing the alert does not carry."""
CHILD = SubjectToken("st1_FAKEunitCaseworkChild001")
GONE = AgencyId("fake-deregistered-agency")
TRANSFER_ID = "11111111-2222-4333-8444-555555555555"


def _agreement(
    ident: str, parties: list[AgencyId], contracts: list[str], purpose: str, **provision: Any
) -> dict[str, Any]:
    return {
        "id": ident,
        "parties": [f"agency:{p}" for p in parties],
        "contracts": contracts,
        "purposes": [purpose],
        "provisions": [{"effect": "permit", "senders": [f"agency:{parties[0]}"], **provision}],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": "2099-01-01",
    }


def _policy() -> SharingPolicy:
    agreements = [
        _agreement("isa-alert-council", [POLICE, COUNCIL], [str(ALERT)], str(ALERT_PURPOSE), classes=ALERT_CLASSES),
        _agreement("isa-alert-charity", [POLICE, CHARITY], [str(ALERT)], str(ALERT_PURPOSE), access_level="limited"),
    ]
    contracts = [
        PolicyContract(name=str(name), version=1, tags={p: str(t) for p, t in c.tags.items()})
        for name, c in bundled().items()
    ]
    return SharingPolicy(
        PolicyDocument.of(
            [
                PolicyAgreement(version=1, state=AgreementState.ACTIVE, body=AgreementBody.model_validate(a))
                for a in agreements
            ],
            [PolicyAgency(id=a, kind=k) for a, k in sorted(KINDS.items())],
            [],
            contracts,
        )
    )


class RecordingConnector(Connector):
    """Seals for real; records instead of publishing."""

    published: list[Sealed]

    async def publish_all(self, sealed: Sequence[Sealed]) -> None:
        self.published = [*getattr(self, "published", []), *sealed]


class FakeHub:
    """Canned answers to ``call``; an exception is raised; every call is recorded."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        self.calls.append((method, path))
        del json  # the fake answers by method and path
        answer = self.answers[(method, path)]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _network(*agencies: AgencyId) -> dict[str, Any]:
    return {
        "subject_token": str(CHILD),
        "lead": str(agencies[0]),
        "members": [
            {"agency_id": str(a), "role": "lead" if i == 0 else "member", "since": None} for i, a in enumerate(agencies)
        ],
    }


@pytest.fixture
def world() -> Agencies:
    return Agencies()


def _connector(world: Agencies, agency: AgencyId) -> RecordingConnector:
    return RecordingConnector(
        keys=world.keys[agency],
        directory=world.directory,
        codec=world.connector(agency, None)._codec,
        bootstrap_servers="unused:9092",
        topics=world.connector(agency, None)._topics,
        policy=_policy(),
    )


def _open(world: Agencies, agency: AgencyId, sealed: list[Sealed]) -> ReceivedMessage:
    receiver = world.connector(agency, _policy())
    [envelope] = [s for s in sealed if agency in s.header.recipients]
    return receiver.open(envelope.value)


async def test_an_alert_goes_to_every_permitted_member_with_its_own_fields_and_reports_the_rest(
    world: Agencies,
) -> None:
    sender = _connector(world, POLICE)
    hub = FakeHub({("GET", f"/network/{CHILD}"): _network(COUNCIL, POLICE, CHARITY, YOT, GONE)})
    body = alert_body(
        subject_token=CHILD,
        kind="ARREST",
        location={"description": None, "town": "Fakeham", "postcode": None, "police_force_area": None},
        details="Synthetic arrest.",
        police_reference="FAKE/9/26",
    )
    report = await send_alert(sender, hub, subject_token=CHILD, body=body)
    assert set(report.sent) == {COUNCIL, CHARITY}, report.skipped
    assert set(report.skipped) == {YOT, GONE}
    assert report.skipped[GONE].codes == ("recipient.unknown",)
    assert report.skipped[YOT].codes, "the engine says why: no agreement covers the youth offending team"
    assert len(sender.published) == 2, "one envelope per field set"
    council = _open(world, COUNCIL, sender.published)
    charity = _open(world, CHARITY, sender.published)
    assert council.body["location"]["town"] == "Fakeham"
    assert council.body["subject_token"] == str(CHILD)
    assert "location" not in charity.body
    assert "subject_token" not in charity.body
    assert "police_reference" not in council.body, "criminal intelligence is not in the council's classes either"
    assert charity.body["details"] == "Synthetic arrest."


async def test_a_sender_with_no_case_on_the_child_sends_nothing(world: Agencies) -> None:
    sender = _connector(world, POLICE)
    hub = FakeHub({("GET", f"/network/{CHILD}"): Forbidden("network.not_a_member", "no open case")})
    with pytest.raises(Forbidden):
        await send_alert(sender, hub, subject_token=CHILD, body=alert_body(subject_token=CHILD, kind="ARREST"))
    assert getattr(sender, "published", []) == []


async def test_an_alert_about_another_child_is_refused_before_the_hub_is_asked(world: Agencies) -> None:
    hub = FakeHub({})
    other = alert_body(subject_token=SubjectToken("st1_FAKEunitSomebodyElse0001"), kind="ARREST")
    with pytest.raises(ValidationFailed) as refused:
        await send_alert(_connector(world, POLICE), hub, subject_token=CHILD, body=other)
    assert refused.value.code == "alert.subject_token_mismatch"
    assert hub.calls == []
    with pytest.raises(ValidationFailed):
        alert_body(subject_token=CHILD, kind="KIDNAPPED_BY_ALIENS")


@pytest.mark.parametrize("field", ["given_name", "date_of_birth", "home_address", "subject_token", "child"])
async def test_an_offer_with_identifying_fields_is_refused_and_nothing_is_recorded(world: Agencies, field: str) -> None:
    hub = FakeHub({})
    offer = {"area": "Fakeshire", "lead_professional_role": "Social worker", field: "Testy McFakeface"}
    with pytest.raises(ValidationFailed) as refused:
        await offer_transfer(_connector(world, COUNCIL), hub, subject_token=CHILD, candidates=[YOT], offer=offer)
    assert refused.value.code == "transfer.offer_field_not_allowed"
    assert field in refused.value.message
    assert "Testy" not in refused.value.message
    assert hub.calls == []


def test_the_connector_still_refuses_a_denied_recipient_by_default(world: Agencies) -> None:
    sender = _connector(world, POLICE)
    send: dict[str, Any] = {
        "contract": ALERT,
        "version": 1,
        "recipients": [COUNCIL, YOT],
        "purpose": ALERT_PURPOSE,
        "body": alert_body(subject_token=CHILD, kind="ARREST"),
        "subject_token": CHILD,
    }
    with pytest.raises(SharingDenied):
        sender.seal(**send)
    skipped: dict[AgencyId, Any] = {}
    [sealed] = sender.seal(**send, skipped=skipped)
    assert sealed.header.recipients == (COUNCIL,)
    assert set(skipped) == {YOT}


async def test_the_desk_hands_over_only_to_the_agency_the_hub_says_accepted(world: Agencies) -> None:
    lead = _connector(world, COUNCIL)
    files = MemoryCaseFiles()
    files.store(TransferId(TRANSFER_ID), CHILD, {"child": {}, "plan": {}})
    record = {
        "transfer_id": TRANSFER_ID,
        "subject_token": str(CHILD),
        "offered_by": str(COUNCIL),
        "candidates": [str(YOT), str(CHARITY)],
        "status": "accepted",
        "accepted_by": str(YOT),
        "previous_network": [],
    }
    desk = HandoverDesk(lead, FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): record}), files)
    claim = world.connector(CHARITY, None).seal(
        contract=TRANSFER_ACCEPTED,
        version=1,
        recipients=[COUNCIL],
        purpose=ALERT_PURPOSE,
        body={"transfer_id": TRANSFER_ID, "accepted_at": 0, "accepting_team": None, "contact": None},
    )
    await desk(world.connector(COUNCIL, None).open(claim[0].value))
    assert desk.refused == [(TRANSFER_ID, "transfer.not_accepted_by_sender")]
    assert desk.done == []
    assert getattr(lead, "published", []) == []
    assert files.load(TransferId(TRANSFER_ID)) is not None, "the pack waits for the real acceptor"


def test_case_files_on_disk_are_private_and_forgotten_after_handover(tmp_path: Path) -> None:
    files = DirectoryCaseFiles(tmp_path / "transfers")
    ident = TransferId(TRANSFER_ID)
    assert files.load(ident) is None
    files.store(ident, CHILD, {"child": {"given_name": "Synthia"}, "plan": {}})
    path = tmp_path / "transfers" / f"{TRANSFER_ID}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert files.load(ident) == (CHILD, {"child": {"given_name": "Synthia"}, "plan": {}})
    with pytest.raises(FileExistsError):
        files.store(ident, CHILD, {"child": {}, "plan": {}})
    files.discard(ident)
    assert not path.exists()


def _accepted_record(acceptor: AgencyId = YOT) -> dict[str, Any]:
    return {
        "transfer_id": TRANSFER_ID,
        "subject_token": str(CHILD),
        "offered_by": str(COUNCIL),
        "candidates": [str(YOT), str(CHARITY)],
        "status": "accepted",
        "accepted_by": str(acceptor),
        "previous_network": [],
    }


def _claim(world: Agencies, sender: AgencyId) -> ReceivedMessage:
    claim = world.connector(sender, None).seal(
        contract=TRANSFER_ACCEPTED,
        version=1,
        recipients=[COUNCIL],
        purpose=ALERT_PURPOSE,
        body={"transfer_id": TRANSFER_ID, "accepted_at": 0, "accepting_team": None, "contact": None},
    )
    return world.connector(COUNCIL, None).open(claim[0].value)


async def test_the_desk_raises_a_retriable_hub_failure_so_the_claim_is_handled_again(world: Agencies) -> None:
    lead = _connector(world, COUNCIL)
    files = MemoryCaseFiles()
    files.store(TransferId(TRANSFER_ID), CHILD, {"child": {}, "plan": {}})
    unreachable = Unavailable("hub.unreachable", "cannot reach the hub")
    desk = HandoverDesk(lead, FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): unreachable}), files)
    with pytest.raises(Unavailable):
        await desk(_claim(world, YOT))
    assert desk.refused == [], "not a refusal: the message is not committed and comes back"
    assert files.noted(TransferId(TRANSFER_ID)) is None
    assert files.load(TransferId(TRANSFER_ID)) is not None, "the pack still waits"


async def test_a_permanent_refusal_of_our_own_transfer_is_noted_for_the_user(world: Agencies) -> None:
    lead = _connector(world, COUNCIL)
    files = MemoryCaseFiles()
    files.store(TransferId(TRANSFER_ID), CHILD, {"child": {}, "plan": {}})
    gone = NotFound("transfer.not_found", "no such transfer for this agency")
    desk = HandoverDesk(lead, FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): gone}), files)
    await desk(_claim(world, YOT))
    assert desk.refused == [(TRANSFER_ID, "transfer.not_found")]
    noted = files.noted(TransferId(TRANSFER_ID))
    assert noted is not None
    assert (noted["state"], noted["code"]) == ("refused", "transfer.not_found")


PACK = {
    "child": {
        "given_name": "Testy",
        "family_name": "McFakeface",
        "known_as": [],
        "date_of_birth": 14_000,
        "current_address": "1 Nowhere Lane, Fakeham",
    },
    "plan": {"kind": "CHILD_PROTECTION", "summary": "Synthetic plan."},
    "risks": [],
    "alert_history": [],
    "previous_lead_contact": None,
}


async def test_a_pack_the_contract_refuses_is_a_permanent_refusal_not_a_poison_message(world: Agencies) -> None:
    lead = _connector(world, COUNCIL)
    files = MemoryCaseFiles()
    files.store(TransferId(TRANSFER_ID), CHILD, {"child": {}, "plan": {}})
    desk = HandoverDesk(lead, FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): _accepted_record()}), files)
    await desk(_claim(world, YOT))  # returns: the claim is committed, not handled for ever
    [(transfer_id, code)] = desk.refused
    assert transfer_id == TRANSFER_ID
    assert code.startswith("contract.")
    noted = files.noted(TransferId(TRANSFER_ID))
    assert noted is not None
    assert noted["code"] == code


async def test_a_handover_no_agreement_covers_is_noted_and_the_pack_kept(world: Agencies) -> None:
    lead = _connector(world, COUNCIL)  # the test policy has no transfer agreement at all
    files = MemoryCaseFiles()
    files.store(TransferId(TRANSFER_ID), CHILD, PACK)
    desk = HandoverDesk(lead, FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): _accepted_record()}), files)
    await desk(_claim(world, YOT))
    assert desk.refused == [(TRANSFER_ID, "sharing.denied")]
    noted = files.noted(TransferId(TRANSFER_ID))
    assert noted is not None
    assert noted["code"] == "sharing.denied"
    assert str(YOT) in noted["message"]
    assert files.load(TransferId(TRANSFER_ID)) is not None, "kept, to hand over once an agreement exists"
    assert getattr(lead, "published", []) == []


def test_the_desks_notes_on_disk_are_private_and_replaced(tmp_path: Path) -> None:
    files = DirectoryCaseFiles(tmp_path / "transfers")
    ident = TransferId(TRANSFER_ID)
    assert files.noted(ident) is None
    files.note(ident, {"state": "refused", "code": "sharing.denied"})
    files.note(ident, {"state": "handed_over", "acceptor": str(YOT)})
    path = tmp_path / "transfers" / f"{TRANSFER_ID}.status.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert files.noted(ident) == {"state": "handed_over", "acceptor": str(YOT)}
    assert [p.name for p in (tmp_path / "transfers").iterdir()] == [path.name], "no scratch file left behind"


async def test_a_repeated_claim_after_the_handover_is_not_a_refusal(world: Agencies) -> None:
    files = MemoryCaseFiles()
    files.note(TransferId(TRANSFER_ID), {"state": "handed_over", "acceptor": str(YOT)})
    desk = HandoverDesk(
        _connector(world, COUNCIL), FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): _accepted_record()}), files
    )
    await desk(_claim(world, YOT))
    assert desk.refused == []
    assert files.noted(TransferId(TRANSFER_ID)) == {"state": "handed_over", "acceptor": str(YOT)}, "the note stays"


class BrokerDownConnector(RecordingConnector):
    """Seals for real; the broker does not answer."""

    async def publish_all(self, sealed: Sequence[Sealed]) -> None:
        del sealed
        raise KafkaConnectionError("synthetic: broker unreachable")


async def test_a_broker_failure_during_the_handover_is_raised_and_nothing_is_noted(world: Agencies) -> None:
    plain = _connector(world, COUNCIL)
    lead = BrokerDownConnector(
        keys=world.keys[COUNCIL],
        directory=world.directory,
        codec=plain._codec,
        bootstrap_servers="unused:9092",
        topics=plain._topics,
        policy=_policy(),
    )
    files = MemoryCaseFiles()
    files.store(TransferId(TRANSFER_ID), CHILD, PACK)
    desk = HandoverDesk(lead, FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): _accepted_record()}), files)
    with pytest.raises(KafkaConnectionError):
        await desk(_claim(world, YOT))
    assert desk.refused == []
    assert files.noted(TransferId(TRANSFER_ID)) is None
    assert files.load(TransferId(TRANSFER_ID)) is not None, "the pack waits for the retry"
