"""Connectors prove their agency to the hub API with their own signing key (``hub.auth.agency``).

Over the real hub app on SQLite and PostgreSQL: a fresh assertion is admitted once; a replay,
a foreign key, an expired or malformed assertion, a revoked key and a suspended agency are each
refused with their own code; every decision is an ``api.authz`` audit row naming the agency.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.sdk.hubauth import HubClient, agency_assertion
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Unauthenticated
from onedoor.ids import AgencyId
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

MET = AgencyId("met-police")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Hub:
    app: FastAPI
    http: httpx.AsyncClient
    operator: dict[str, str]
    keys: AgencyKeyPair

    @property
    def factory(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.session_factory
        return factory

    def client(self, keys: AgencyKeyPair | None = None) -> HubClient:
        return HubClient("http://hub.test", keys or self.keys, transport=httpx.ASGITransport(app=self.app))

    async def raw(self, token: str) -> httpx.Response:
        return await self.http.get("/auth/agency", headers={"Authorization": f"Bearer {token}"})

    def authz(self) -> list[AuditEvent]:
        with self.factory() as session:
            stmt = select(AuditEvent).where(AuditEvent.kind == "api.authz", AuditEvent.source == "GET /auth/agency")
            return list(session.scalars(stmt.order_by(AuditEvent.id)))


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    operator = {
        "Authorization": f"Bearer {DevIssuer.from_settings(settings).mint(subject='setup', roles=[Role.HUB_OPERATOR])}"
    }
    app = create_app(settings)
    keys = AgencyKeyPair.generate(MET)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            created = await http.post(
                "/agencies",
                json={
                    "id": str(MET),
                    "display_name": "Metropolitan Police (synthetic)",
                    "kind": "police",
                    "signing_public_key": _b64(keys.signing_public),
                    "encryption_public_key": _b64(keys.encryption_public),
                },
                headers=operator,
            )
            assert created.status_code == 201, created.text
            yield Hub(app, http, operator, keys)


async def test_an_assertion_proves_the_agency_and_is_audited(hub: Hub) -> None:
    async with hub.client() as client:
        first = await client.call("GET", "/auth/agency")
        second = await client.call("GET", "/auth/agency")  # a new assertion per request
    assert first["agency"] == second["agency"] == str(MET)
    assert first["key_id"] == str(hub.keys.signing_key_id)
    rows = hub.authz()
    assert [(r.outcome, r.actor) for r in rows] == [("permit", str(MET)), ("permit", str(MET))]


async def test_a_replayed_assertion_is_refused(hub: Hub) -> None:
    token = agency_assertion(hub.keys)
    assert (await hub.raw(token)).status_code == 200
    replay = await hub.raw(token)
    assert replay.status_code == 401
    assert replay.json()["code"] == "auth.assertion_replayed"
    assert [r.reason_code for r in hub.authz()] == [None, "auth.assertion_replayed"]


async def test_a_key_the_agency_never_registered_is_refused(hub: Hub) -> None:
    impostor = AgencyKeyPair.generate(MET)  # claims to be the Met, signs with its own key
    async with hub.client(impostor) as client:
        with pytest.raises(Unauthenticated) as refused:
            await client.call("GET", "/auth/agency")
    assert refused.value.code == "auth.key_unknown"
    assert [(r.outcome, r.actor) for r in hub.authz()] == [("deny", str(MET))]


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("", "auth.missing_token"),
        ("not-a-jwt", "auth.assertion_invalid"),
    ],
)
async def test_missing_or_malformed_assertions_are_refused(hub: Hub, token: str, code: str) -> None:
    response = await hub.raw(token) if token else await hub.http.get("/auth/agency")
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert [r.outcome for r in hub.authz()] == ["deny"]


async def test_expired_long_lived_and_wrong_audience_assertions_are_refused(hub: Hub) -> None:
    expired = agency_assertion(hub.keys, now=time.time() - 600)
    assert (await hub.raw(expired)).json()["code"] == "auth.assertion_expired"
    long_lived = agency_assertion(hub.keys, ttl_s=3600)
    assert (await hub.raw(long_lived)).json()["code"] == "auth.assertion_invalid"
    now = int(time.time())
    foreign = jwt.encode(
        {"iss": str(MET), "sub": str(MET), "aud": "someone-else", "iat": now, "exp": now + 60, "jti": "x1"},
        hub.keys.signing,
        algorithm="EdDSA",
        headers={"kid": str(hub.keys.signing_key_id)},
    )
    assert (await hub.raw(foreign)).json()["code"] == "auth.assertion_invalid"


async def test_a_revoked_key_and_a_suspended_agency_are_refused_at_once(hub: Hub) -> None:
    suspended = await hub.http.post(f"/agencies/{MET}/suspend", headers=hub.operator)
    assert suspended.status_code == 200, suspended.text
    assert (await hub.raw(agency_assertion(hub.keys))).json()["code"] == "auth.agency_inactive"
    await hub.http.post(f"/agencies/{MET}/reactivate", headers=hub.operator)
    assert (await hub.raw(agency_assertion(hub.keys))).status_code == 200
    revoked = await hub.http.post(f"/agencies/{MET}/keys/{hub.keys.signing_key_id}/revoke", headers=hub.operator)
    assert revoked.status_code == 200, revoked.text
    assert (await hub.raw(agency_assertion(hub.keys))).json()["code"] == "auth.key_unknown"
