"""The network and transfer API over the real hub app, on SQLite and PostgreSQL, called as agencies.

Connectors authenticate with their own signing keys (``HubClient``). Subscribing, looking up
(only the members the caller has an agreement in force with), offering, accepting (two
candidates at once: exactly one wins) and the refusals, each with its stable code and an audit
row; hub operators and auditors read a network with their JWT. Two subscribes racing on a new
token, in two threads on the real database, end in one lead and a clean 409, never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.casework import NetworkClient
from connectors.sdk.hubauth import HubClient
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.network import service
from hub.network.enums import NetworkRole
from onedoor.db import transaction
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Conflict, Forbidden, OneDoorError, ValidationFailed
from onedoor.ids import AgencyId, SubjectToken
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

CHILD = SubjectToken("st1_FAKEintNetworkChild00001")
LEAD = AgencyId("lb-int-borough-csc")
POLICE = AgencyId("int-met-police")
NEW_A = AgencyId("int-county-csc")
NEW_B = AgencyId("int-county-exploitation")
OUTSIDER = AgencyId("int-outsider-charity")
AGENCIES = (LEAD, POLICE, NEW_A, NEW_B, OUTSIDER)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Hub:
    app: FastAPI
    http: httpx.AsyncClient
    issuer: DevIssuer
    keys: dict[AgencyId, AgencyKeyPair]

    def client(self, agency: AgencyId) -> HubClient:
        return HubClient("http://hub.test", self.keys[agency], transport=httpx.ASGITransport(self.app))

    def network(self, agency: AgencyId) -> NetworkClient:
        return NetworkClient(self.client(agency))

    async def agree(self, ident: str, *parties: AgencyId) -> None:
        """An agreement in force between ``parties``: alerts, ``limited``, both ways."""
        named = [f"agency:{p}" for p in parties]
        body = {
            "id": ident,
            "title": "Synthetic integration agreement",
            "parties": named,
            "contracts": ["onedoor.alert.Alert"],
            "purposes": ["safeguarding-alert"],
            "provisions": [{"effect": "permit", "senders": named, "recipients": named, "access_level": "limited"}],
            "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
            "retention_days": 365,
            "review_date": (datetime.now(UTC) + timedelta(days=365)).date().isoformat(),
        }
        proposed = await self.http.post("/agreements", json={"agreement": body}, headers=self.admin(parties[0]))
        assert proposed.status_code == 201, proposed.text
        latest = proposed.json()["versions"][-1]
        for agency in parties:
            approved = await self.http.post(
                f"/agreements/{ident}/versions/{latest['version']}/approve",
                json={"digest": latest["digest"]},
                headers=self.admin(agency),
            )
            assert approved.status_code == 200, approved.text

    def admin(self, agency: AgencyId) -> dict[str, str]:
        token = self.issuer.mint(subject=f"admin@{agency}", roles=[Role.AGENCY_ADMIN], agency=agency)
        return {"Authorization": f"Bearer {token}"}

    def audit(self, kind: str) -> list[tuple[str | None, str, str | None]]:
        factory: sessionmaker[Session] = self.app.state.session_factory
        with factory() as session:
            rows = session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id))
            return [(r.actor, r.outcome, r.reason_code) for r in rows]


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    issuer = DevIssuer.from_settings(settings)
    operator = {"Authorization": f"Bearer {issuer.mint(subject='setup', roles=[Role.HUB_OPERATOR])}"}
    app = create_app(settings)
    keys = {a: AgencyKeyPair.generate(a) for a in AGENCIES}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http,
    ):
        for agency, pair in keys.items():
            created = await http.post(
                "/agencies",
                json={
                    "id": str(agency),
                    "display_name": f"{agency} (synthetic)",
                    "kind": "children-services",
                    "signing_public_key": _b64(pair.signing_public),
                    "encryption_public_key": _b64(pair.encryption_public),
                },
                headers=operator,
            )
            assert created.status_code == 201, created.text
        yield Hub(app, http, issuer, keys)


async def test_members_see_the_network_and_others_are_refused(hub: Hub) -> None:
    await hub.agree("isa-int-lead-police", LEAD, POLICE)
    assert (await hub.network(LEAD).subscribe(CHILD, lead=True)).role == "lead"
    await hub.network(POLICE).subscribe(CHILD)
    view = await hub.network(POLICE).network(CHILD)
    assert view.lead == LEAD
    assert view.agencies == (LEAD, POLICE)
    with pytest.raises(Forbidden) as refused:
        await hub.network(OUTSIDER).network(CHILD)
    assert refused.value.code == "network.not_a_member"
    with pytest.raises(Conflict) as taken:
        await hub.network(POLICE).subscribe(CHILD, lead=True)
    assert taken.value.code == "network.lead_taken"
    with pytest.raises(ValidationFailed) as malformed:
        await hub.client(POLICE).call("GET", "/network/Testy-McFakeface")
    assert malformed.value.code == "subject_token.invalid"
    assert hub.audit("network.lookup") == [
        (POLICE, "permit", None),
        (OUTSIDER, "deny", "network.not_a_member"),
        (POLICE, "invalid", "subject_token.invalid"),
    ]
    await hub.network(POLICE).unsubscribe(CHILD)
    assert (await hub.network(LEAD).network(CHILD)).agencies == (LEAD,)
    joined = await hub.client(NEW_A).call("PUT", f"/network/{CHILD}/members/me")  # no body: a plain member
    assert joined["role"] == "member"
    assert hub.audit("network.subscribe")[-1] == (NEW_A, "opened", None)


async def test_a_member_sees_only_its_agreement_partners_and_a_lead_needs_one(hub: Hub) -> None:
    await hub.agree("isa-int-lead-police", LEAD, POLICE)
    await hub.network(POLICE).subscribe(CHILD)
    with pytest.raises(Forbidden) as refused:
        await hub.network(OUTSIDER).subscribe(CHILD, lead=True)
    assert refused.value.code == "network.lead_needs_agreement"
    await hub.network(OUTSIDER).subscribe(CHILD)
    assert (await hub.network(LEAD).subscribe(CHILD, lead=True)).role == "lead"
    seen = await hub.client(OUTSIDER).call("GET", f"/network/{CHILD}")
    assert seen["members"] == [{"agency_id": str(OUTSIDER), "role": "member", "since": seen["members"][0]["since"]}], (
        "an agency with no agreement sees only itself"
    )
    assert seen["lead"] is None
    assert seen["withheld"] == 2
    police = await hub.network(POLICE).network(CHILD)
    assert police.agencies == (LEAD, POLICE)
    assert police.withheld == 1
    with pytest.raises(Conflict) as taken:
        await hub.network(OUTSIDER).subscribe(CHILD, lead=True)
    assert taken.value.code == "network.lead_taken"
    assert hub.audit("network.subscribe") == [
        (POLICE, "opened", None),
        (OUTSIDER, "refused", "network.lead_needs_agreement"),
        (OUTSIDER, "opened", None),
        (LEAD, "opened", None),
        (OUTSIDER, "refused", "network.lead_taken"),
    ]


def _race(engine: Engine, factory: sessionmaker[Session], callers: list[AgencyId]) -> list[Any]:
    """Subscribe every caller as lead of a new token at once: each thread waits at its first INSERT for the others."""
    barrier = threading.Barrier(len(callers), timeout=20)
    waited = threading.local()

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO network_member") and not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()

    results: list[Any] = [None] * len(callers)

    def subscribe(i: int) -> None:
        try:
            with transaction(factory) as session:
                outcome = service.subscribe(session, RACED, callers[i], NetworkRole.LEAD)
            results[i] = outcome.error or (outcome.unwrap().agency_id, outcome.unwrap().role)
        except Exception as exc:  # noqa: BLE001 - the failure to report
            results[i] = exc

    event.listen(engine, "before_cursor_execute", hold)
    try:
        threads = [threading.Thread(target=subscribe, args=(i,)) for i in range(len(callers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(engine, "before_cursor_execute", hold)
    return results


RACED = SubjectToken("st1_FAKEintNetworkRacedChild1")


async def test_two_agencies_claiming_the_lead_of_a_new_token_at_once_one_leads_one_gets_409(hub: Hub) -> None:
    factory: sessionmaker[Session] = hub.app.state.session_factory
    engine = factory.kw["bind"]
    results = await asyncio.to_thread(_race, engine, factory, [LEAD, NEW_A])
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if not isinstance(r, tuple)]
    assert len(won) == 1, results
    assert won[0][1] is NetworkRole.LEAD
    [error] = lost
    assert isinstance(error, Conflict), f"a clean refusal, not {error!r}"
    assert error.code == "network.lead_taken"
    with factory() as session:
        network = service.open_members(session, RACED)
        assert [(m.agency_id, m.role) for m in network.members] == [won[0]]
    outcomes = sorted((outcome, reason) for _, outcome, reason in hub.audit("network.subscribe"))
    assert outcomes == [("opened", None), ("refused", "network.lead_taken")]


async def test_the_same_agency_subscribing_twice_at_once_gets_one_membership(hub: Hub) -> None:
    factory: sessionmaker[Session] = hub.app.state.session_factory
    results = await asyncio.to_thread(_race, factory.kw["bind"], factory, [LEAD, LEAD])
    assert results == [(LEAD, NetworkRole.LEAD)] * 2, results
    with factory() as session:
        assert len(service.open_members(session, RACED).members) == 1
    assert sorted(outcome for _, outcome, _ in hub.audit("network.subscribe")) == ["opened", "unchanged"]


async def test_an_unauthenticated_caller_gets_401_and_the_network_stays_hidden(hub: Hub) -> None:
    await hub.network(LEAD).subscribe(CHILD, lead=True)
    response = await hub.http.get(f"/network/{CHILD}")
    assert response.status_code == 401
    assert "lb-int" not in response.text


async def test_operators_and_auditors_read_a_network_agency_admins_do_not(hub: Hub) -> None:
    await hub.network(LEAD).subscribe(CHILD, lead=True)
    for role in (Role.HUB_OPERATOR, Role.AUDITOR):
        token = hub.issuer.mint(subject=f"int-{role}", roles=[role])
        shown = await hub.http.get(f"/network/{CHILD}/oversight", headers={"Authorization": f"Bearer {token}"})
        assert shown.status_code == 200, shown.text
        assert shown.json()["lead"] == str(LEAD)
    admin = hub.issuer.mint(subject="admin@int", roles=[Role.AGENCY_ADMIN], agency=LEAD)
    refused = await hub.http.get(f"/network/{CHILD}/oversight", headers={"Authorization": f"Bearer {admin}"})
    assert refused.status_code == 403


async def test_two_candidates_accepting_at_once_exactly_one_wins(hub: Hub) -> None:
    await hub.agree("isa-int-network", LEAD, POLICE, NEW_A, NEW_B)
    await hub.network(LEAD).subscribe(CHILD, lead=True)
    await hub.network(POLICE).subscribe(CHILD)
    offered = await hub.network(LEAD).offer(CHILD, [NEW_A, NEW_B])
    assert offered.status == "offered"
    assert offered.candidates == (NEW_A, NEW_B)
    results = await asyncio.gather(
        hub.network(NEW_A).accept(offered.transfer_id),
        hub.network(NEW_B).accept(offered.transfer_id),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1
    assert len(lost) == 1
    assert isinstance(lost[0], Conflict)
    assert lost[0].code == "transfer.already_accepted"
    winner = won[0].transfer.accepted_by
    assert won[0].previous_lead == LEAD
    assert winner is not None
    view = await hub.network(winner).network(CHILD)
    assert view.lead == winner
    assert set(view.agencies) == {winner, POLICE}
    seen_by_lead = await hub.network(LEAD).transfer(offered.transfer_id)
    assert [(m.agency, m.role) for m in seen_by_lead.previous_network] == [(LEAD, "lead"), (POLICE, "member")]
    outcomes = sorted(outcome for _, outcome, _ in hub.audit("transfer.accept"))
    assert outcomes == ["accepted", "refused"]
    again = await hub.network(winner).accept(offered.transfer_id)  # its TransferAccepted may never have left
    assert again.transfer.accepted_by == winner
    assert again.previous_lead == LEAD
    assert hub.audit("transfer.accept")[-1] == (winner, "unchanged", None)


@pytest.mark.parametrize(
    ("candidates", "status", "code"),
    [
        (["int-nobody-registered"], 422, "transfer.unknown_candidate"),
        ([], 422, "request.invalid"),
        (["Not An Agency"], 422, "agency_id.invalid"),
    ],
    ids=["unregistered", "empty", "malformed"],
)
async def test_bad_candidates_are_refused(hub: Hub, candidates: list[str], status: int, code: str) -> None:
    await hub.network(LEAD).subscribe(CHILD, lead=True)
    with pytest.raises(OneDoorError) as refused:
        await hub.client(LEAD).call("POST", "/transfers", {"subject_token": str(CHILD), "candidates": candidates})
    assert refused.value.code == code
    assert isinstance(refused.value, ValidationFailed)
    assert status == 422
