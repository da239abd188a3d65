"""The network and transfer API over the real hub app, on SQLite and PostgreSQL, called as agencies.

Connectors authenticate with their own signing keys (``HubClient``). Subscribing, looking up,
offering, accepting (two candidates at once: exactly one wins) and the refusals, each with its
stable code and an audit row; hub operators and auditors read a network with their JWT.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.casework import NetworkClient
from connectors.sdk.hubauth import HubClient
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
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
