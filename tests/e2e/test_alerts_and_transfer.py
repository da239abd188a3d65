"""Alerts to a child's five-agency network and a case transfer between two areas, over the real broker and hub.

Five agencies (the Met in London, a London borough's children's services as lead, a youth
offending team, a charity, a county police force) subscribe to one synthetic subject token.
An alert from one member reaches the other four, each with its own agreement's fields (the
charity, under a ``limited`` agreement, fewer). A member whose connector is stopped gets the
next alert when it starts again. An agency that is not in the network cannot alert: 403 and
nothing sent. Then the lead offers the case to two agencies in the new area; the offers carry
no name; one accepts, the second acceptance is refused (409); the acceptor gets the handover
pack; the network moved (the acceptor leads, the old lead is gone); the previous area and the
other candidate are told.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.casework import (
    ALERT,
    ALERT_PURPOSE,
    HANDOVER_PACK,
    TRANSFER_COMPLETED,
    TRANSFER_OFFER,
    TRANSFER_PURPOSE,
    HandoverDesk,
    MemoryCaseFiles,
    NetworkClient,
    accept_transfer,
    alert_body,
    offer_transfer,
    send_alert,
)
from connectors.casework.transfers import TRANSFER_ACCEPTED
from connectors.sdk import Connector
from connectors.sdk.connector import ReceivedMessage
from connectors.sdk.hubauth import HubClient, agency_assertion
from contracts.catalog import bundled_contract
from hub.audit.models import AuditEvent
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Conflict, Forbidden
from onedoor.ids import AgencyId, SubjectToken
from tests.e2e.hub import RunningHub, hub_settings, running_hub

pytestmark = pytest.mark.e2e

CHILD = SubjectToken("st1_FAKEe2eNetworkChild000001")
MET = AgencyId("e2e-net-met-police")
LEAD = AgencyId("lb-e2e-net-hackney-csc")
YOT = AgencyId("e2e-net-hackney-yot")
CHARITY = AgencyId("e2e-net-safe-charity")
COUNTY = AgencyId("e2e-net-norfolk-police")
NEW_CSC = AgencyId("e2e-net-norfolk-csc")
NEW_HUB = AgencyId("e2e-net-norfolk-exploitation")
KINDS = {
    MET: "police",
    LEAD: "children-services",
    YOT: "youth-offending",
    CHARITY: "charity",
    COUNTY: "police",
    NEW_CSC: "children-services",
    NEW_HUB: "children-services",
}
NETWORK = (MET, LEAD, YOT, CHARITY, COUNTY)
SPECIAL = {"article9": "UK GDPR Art. 9(2)(g)", "conditions": ["DPA 2018 Sch. 1 para 18"]}


def _agreement(ident: str, contract_names: list[str], purpose: str, provisions: list[dict[str, Any]]) -> dict[str, Any]:
    parties = sorted({a.removeprefix("agency:") for p in provisions for a in (*p["senders"], *p["recipients"])})
    return {
        "id": ident,
        "title": "Synthetic end-to-end agreement",
        "parties": [f"agency:{a}" for a in parties],
        "contracts": contract_names,
        "purposes": [purpose],
        "provisions": provisions,
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"], **SPECIAL},
        "retention_days": 365,
        "review_date": (datetime.now(UTC) + timedelta(days=365)).date().isoformat(),
    }


def _provision(senders: tuple[AgencyId, ...], recipients: tuple[AgencyId, ...], level: str) -> dict[str, Any]:
    return {
        "effect": "permit",
        "senders": [f"agency:{a}" for a in senders],
        "recipients": [f"agency:{a}" for a in recipients],
        "access_level": level,
    }


ALERT_AGREEMENT = _agreement(
    "isa-e2e-network-alerts",
    [str(ALERT)],
    str(ALERT_PURPOSE),
    [
        # Every member may alert every statutory member with everything; the charity gets "limited".
        _provision(NETWORK, (MET, LEAD, YOT, COUNTY), "full"),
        _provision(NETWORK, (CHARITY,), "limited"),
    ],
)
TRANSFER_AGREEMENT = _agreement(
    "isa-e2e-case-transfer",
    [str(TRANSFER_OFFER), str(TRANSFER_ACCEPTED), str(HANDOVER_PACK), str(TRANSFER_COMPLETED)],
    str(TRANSFER_PURPOSE),
    [_provision((LEAD, NEW_CSC, NEW_HUB), (*NETWORK, NEW_CSC, NEW_HUB), "full")],
)
OFFER = {
    "age_band": "AGE_13_TO_15",
    "area": "Norfolk County Council",
    "urgency": "WITHIN_24_HOURS",
    "needs": ["CRIMINAL_EXPLOITATION", "MISSING_EPISODES", "EDUCATION"],
    "lead_professional_role": "Social worker, exploitation and missing team",
}
HANDOVER = {
    "child": {
        "given_name": "Testy",
        "family_name": "McFakeface",
        "known_as": ["T-Fake"],
        "date_of_birth": 14_000,
        "current_address": "1 Nowhere Lane, Fakeham",
    },
    "plan": {"kind": "CHILD_PROTECTION", "summary": "Synthetic plan: weekly visits, education place, NRM referral."},
    "risks": [{"category": "CRIMINAL_EXPLOITATION", "level": "HIGH", "description": "Synthetic: county line runner."}],
    "alert_history": [],
    "previous_lead_contact": {"name": "Synthia Example", "role": "Social worker", "phone": "020 7946 0000"},
}


async def _receive_one(connector: Connector, timeout_s: float = 30.0) -> ReceivedMessage:
    got = await connector.receive(count=1, timeout_s=timeout_s)
    assert got, f"{connector.agency} received nothing within {timeout_s} s"
    return got[0]


def _audit(hub: RunningHub, kind: str) -> list[AuditEvent]:
    with Session(hub.engine) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)))


async def test_alerts_reach_the_network_and_a_transfer_moves_it(kafka_bootstrap: str, tmp_path: Path) -> None:
    keys = {agency: AgencyKeyPair.generate(agency) for agency in KINDS}
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        for agency, pair in keys.items():
            await hub.register(pair, KINDS[agency])
        await hub.agree(ALERT_AGREEMENT)
        await hub.agree(TRANSFER_AGREEMENT)
        transport = hub.client._transport
        clients = {a: HubClient("http://hub", keys[a], transport=transport) for a in KINDS}
        connectors = {a: await hub.connector(keys[a], await hub.policy()) for a in KINDS}
        for connector in connectors.values():
            await connector.start()
        try:
            await _network_and_alerts(hub, connectors, clients, keys)
            await _transfer(hub, connectors, clients, keys)
        finally:
            for connector in connectors.values():
                await connector.stop()
            for client in clients.values():
                await client.aclose()


async def _network_and_alerts(
    hub: RunningHub,
    connectors: dict[AgencyId, Connector],
    clients: dict[AgencyId, HubClient],
    keys: dict[AgencyId, AgencyKeyPair],
) -> None:
    # Each agency opens a case on the child: its connector subscribes. The borough leads.
    for agency in NETWORK:
        await NetworkClient(clients[agency]).subscribe(CHILD, lead=agency == LEAD)
    view = await NetworkClient(clients[MET]).network(CHILD)
    assert view.lead == LEAD
    assert set(view.agencies) == set(NETWORK)
    assert view.withheld == 0, "the alert agreement binds all five: nobody is left out"

    # 1. An alert from the Met reaches the other four at once, each with its agreement's fields.
    body = alert_body(
        subject_token=CHILD,
        kind="MISSING_EPISODE",
        location={"description": "Synthetic Station", "town": "Fakeham", "postcode": None, "police_force_area": None},
        risk_level="HIGH",
        details="Synthetic: missing overnight, believed travelling to a county line.",
        offence=None,
        police_reference="FAKE/0001/26",
        action_requested="Return home interview within 72 hours",
        contact={"name": "PC Testy McFakeface", "role": "Missing persons unit", "phone": None, "email": None},
    )
    started = time.perf_counter()
    report = await send_alert(connectors[MET], clients[MET], subject_token=CHILD, body=body)
    others = [a for a in NETWORK if a != MET]
    got = dict(zip(others, await asyncio.gather(*(_receive_one(connectors[a]) for a in others)), strict=True))
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"the alert took {elapsed:.1f} s to reach the network"
    assert set(report.sent) == set(others)
    assert report.skipped == {}
    every = frozenset(bundled_contract(ALERT).tags)
    limited = frozenset(
        {
            "alert_id",
            "kind",
            "referral_id",
            "occurred_at",
            "reported_at",
            "risk_level",
            "details",
            "action_requested",
            "contact",
            "contact.name",
            "contact.role",
            "contact.phone",
            "contact.email",
        }
    )
    for agency, message in got.items():
        assert message.header.contract == ALERT
        assert message.header.subject_token == CHILD
        assert message.body["alert_id"] == body["alert_id"]
        assert message.body["kind"] == "MISSING_EPISODE"
        if agency == CHARITY:
            assert message.fields == limited, "the charity gets exactly the limited fields"
            for withheld in ("subject_token", "location", "offence", "police_reference"):
                assert withheld not in message.body
        else:
            assert message.fields == every
            assert message.body["police_reference"] == "FAKE/0001/26"
            assert message.body["location"]["town"] == "Fakeham"
    assert got[CHARITY].header.agreement == "isa-e2e-network-alerts"

    # 2. The youth offending team's connector is offline when the county force alerts; it gets it on return.
    await connectors[YOT].stop()
    found = alert_body(subject_token=CHILD, kind="FOUND_OUT_OF_AREA", details="Synthetic: found in Fakeham.")
    sent = await send_alert(connectors[COUNTY], clients[COUNTY], subject_token=CHILD, body=found)
    assert YOT in sent.sent, "the offline member is still sent to: its inbox keeps it"
    online = [MET, LEAD, CHARITY]
    for message in await asyncio.gather(*(_receive_one(connectors[a]) for a in online)):
        assert message.body["alert_id"] == found["alert_id"]
    returned = await hub.connector(keys[YOT], await hub.policy())
    connectors[YOT] = returned
    await returned.start()
    back = await _receive_one(returned)
    assert back.body["alert_id"] == found["alert_id"], "the first unhandled message, not an old one"
    assert back.body["kind"] == "FOUND_OUT_OF_AREA"

    # 3. An agency with no case on the child cannot alert: 403, audited, and nothing is sent.
    before = connectors[NEW_CSC].stats.sent
    stray = alert_body(subject_token=CHILD, kind="ARREST", details="Synthetic: should never be sent.")
    with pytest.raises(Forbidden) as refused:
        await send_alert(connectors[NEW_CSC], clients[NEW_CSC], subject_token=CHILD, body=stray)
    assert refused.value.code == "network.not_a_member"
    assert connectors[NEW_CSC].stats.sent == before
    quiet = await asyncio.gather(*(connectors[a].receive(count=1, timeout_s=1.5) for a in NETWORK))
    assert quiet == [[], [], [], [], []], "nothing reached anyone"
    denied = [r for r in _audit(hub, "network.lookup") if r.outcome == "deny"]
    assert [(r.actor, r.reason_code, r.subject_token) for r in denied] == [
        (str(NEW_CSC), "network.not_a_member", str(CHILD))
    ]

    # A malformed token is refused with its own code.
    malformed = await hub.client.get(
        "/network/not-a-token", headers={"Authorization": f"Bearer {agency_assertion(keys[MET])}"}
    )
    assert malformed.status_code == 422, malformed.text
    assert malformed.json()["code"] == "subject_token.invalid"


async def _transfer(
    hub: RunningHub,
    connectors: dict[AgencyId, Connector],
    clients: dict[AgencyId, HubClient],
    keys: dict[AgencyId, AgencyKeyPair],
) -> None:
    # 4. The lead offers the case to two agencies in the new area: minimal information only.
    files = MemoryCaseFiles()
    offered = await offer_transfer(
        connectors[LEAD],
        clients[LEAD],
        subject_token=CHILD,
        candidates=[NEW_CSC, NEW_HUB],
        offer=OFFER,
        handover=HANDOVER,
        case_files=files,
    )
    transfer_id = offered.transfer.transfer_id
    assert set(offered.sent) == {NEW_CSC, NEW_HUB}
    offer_fields = {f["name"] for f in bundled_contract(TRANSFER_OFFER).parsed["fields"]}
    for agency in (NEW_CSC, NEW_HUB):
        message = await _receive_one(connectors[agency])
        assert message.header.contract == TRANSFER_OFFER
        assert message.header.subject_token is None, "the offer does not even name the token"
        assert set(message.body) == offer_fields
        assert message.body["transfer_id"] == str(transfer_id)
        assert message.body["area"] == "Norfolk County Council"
        text = repr(message.body)
        for identifying in ("Testy", "McFakeface", "Nowhere Lane", "date_of_birth", "given_name", str(CHILD)):
            assert identifying not in text

    # 5. One candidate accepts; the second acceptance is refused with 409.
    accepted = await accept_transfer(connectors[NEW_CSC], clients[NEW_CSC], transfer_id, accepting_team="MASH")
    assert accepted.acceptance.previous_lead == LEAD
    assert accepted.told_previous_lead
    with pytest.raises(Conflict) as twice:
        await accept_transfer(connectors[NEW_HUB], clients[NEW_HUB], transfer_id)
    assert twice.value.code == "transfer.already_accepted"
    again = await hub.client.post(
        f"/transfers/{transfer_id}/accept", headers={"Authorization": f"Bearer {agency_assertion(keys[NEW_HUB])}"}
    )
    assert again.status_code == 409, again.text
    assert "already been accepted" in again.json()["message"]

    # 6. The old lead's connector checks the acceptance at the hub and hands over.
    desk = HandoverDesk(connectors[LEAD], clients[LEAD], files)
    deadline = time.monotonic() + 30
    while not desk.done and time.monotonic() < deadline:
        await connectors[LEAD].poll(desk, timeout_ms=200)
    assert desk.refused == []
    [done] = desk.done
    assert done.acceptor == NEW_CSC
    pack = await _receive_one(connectors[NEW_CSC])
    assert pack.header.contract == HANDOVER_PACK
    assert pack.header.subject_token == CHILD
    assert pack.body["child"]["given_name"] == "Testy"
    assert pack.body["plan"]["kind"] == "CHILD_PROTECTION"
    assert pack.body["subject_token"] == str(CHILD)
    assert {m["agency_id"]: m["role"] for m in pack.body["network"]} == {
        str(a): ("lead" if a == LEAD else "member") for a in NETWORK
    }
    assert files.load(transfer_id) is None, "the pack is forgotten once handed over"
    noted = files.noted(transfer_id)
    assert noted is not None
    assert (noted["state"], noted["acceptor"]) == ("handed_over", str(NEW_CSC))

    # 6b. Accepting again (say the first TransferAccepted seemed lost) is answered as before and resent;
    # the old lead's desk sees it is done already: no second pack, no refusal.
    handled = connectors[LEAD].stats.received
    again_accepted = await accept_transfer(connectors[NEW_CSC], clients[NEW_CSC], transfer_id, accepting_team="MASH")
    assert again_accepted.acceptance.previous_lead == LEAD
    assert again_accepted.told_previous_lead
    deadline = time.monotonic() + 10
    while connectors[LEAD].stats.received == handled and time.monotonic() < deadline:
        await connectors[LEAD].poll(desk, timeout_ms=200)
    assert connectors[LEAD].stats.received == handled + 1, "the second TransferAccepted reached the desk"
    assert desk.refused == []
    assert len(desk.done) == 1

    # 7. The subscriptions moved: the acceptor leads, the old lead is gone, the others stay.
    view = await NetworkClient(clients[NEW_CSC]).network(CHILD)
    assert view.lead == NEW_CSC
    assert LEAD not in view.agencies
    assert set(view.agencies) == {NEW_CSC, MET, YOT, CHARITY, COUNTY}
    with pytest.raises(Forbidden):
        await NetworkClient(clients[LEAD]).network(CHILD)

    # 8. The previous area is told, and so is the other candidate (without the child's token).
    for agency in (MET, YOT, CHARITY, COUNTY):
        told = await _receive_one(connectors[agency])
        assert told.header.contract == TRANSFER_COMPLETED
        assert told.body["audience"] == "NETWORK_MEMBER"
        assert told.body["new_lead"] == str(NEW_CSC)
    other = await _receive_one(connectors[NEW_HUB])
    assert other.header.contract == TRANSFER_COMPLETED
    assert other.body["audience"] == "CANDIDATE"
    assert other.header.subject_token is None
    assert other.body["subject_token"] is None
    accepts = [(r.actor, r.outcome, r.reason_code) for r in _audit(hub, "transfer.accept")]
    assert (str(NEW_CSC), "accepted", None) in accepts
    assert accepts.count((str(NEW_HUB), "refused", "transfer.already_accepted")) == 2
    assert (str(NEW_CSC), "unchanged", None) in accepts, "the acceptor's second acceptance"
