"""`GET /explain/...` over the real hub API, on SQLite and a real PostgreSQL.

Routing rows are inserted as the router writes them; authorization rows come from real
requests. Operators and auditors see everything; an agency admin sees the messages its
agency sent or was sent, and its own requests; anything else is the same 404 as an id that
was never recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.audit.service import AuditEntry, append_now
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.explain import service
from onedoor.ids import AgencyId
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

POLICE = AgencyId("police-demo")
COUNCIL = AgencyId("council-demo")
SCHOOL = AgencyId("school-demo")
STRANGER = AgencyId("stranger-demo")
MSG = "0b7d5f7e-3c1a-4e8b-9a52-2f0c6d1e4a90"
DELIVERED_MSG = "1c8e6a8f-4d2b-4f9c-8b63-3a1d7e2f5ba1"
NEVER_SEEN = "2d9f7b90-5e3c-4a0d-9c74-4b2e8f3a6cb2"
AT = datetime(2026, 11, 22, 10, 1, 2, tzinfo=UTC)
REVOKED_LINE = (
    "rejected 2026-11-22T10:01:02Z police-demo -> school-demo under isa-demo v2: agreement.revoked — "
    "The agreement has been revoked: nothing more is shared under it."
)


@dataclass
class Hub:
    client: httpx.AsyncClient
    factory: sessionmaker[Session]
    issuer: DevIssuer

    def bearer(self, *roles: Role, agency: AgencyId | None = None, subject: str = "someone") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject=subject, roles=roles, agency=agency)}"}

    def admin(self, agency: AgencyId) -> dict[str, str]:
        return self.bearer(Role.AGENCY_ADMIN, agency=agency, subject=f"admin@{agency}")

    async def message(self, message_id: str, headers: dict[str, str]) -> httpx.Response:
        return await self.client.get(f"/explain/messages/{message_id}", headers=headers)

    async def request(self, request_id: str, headers: dict[str, str]) -> httpx.Response:
        return await self.client.get(f"/explain/requests/{request_id}", headers=headers)


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        factory: sessionmaker[Session] = app.state.session_factory
        append_now(factory, _routing_rows())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield Hub(client, factory, DevIssuer.from_settings(settings))


def _routing_rows() -> list[AuditEntry]:
    common = {
        "actor": POLICE,
        "correlation_id": "case-1",
        "contract": "onedoor.referral.MasterReferral",
        "contract_version": 1,
        "source": "od.out.police-demo:0:7",
        "agreement_id": "isa-demo",
        "agreement_version": 2,
        "purpose": "safeguarding-referral",
        "at": AT,
    }
    return [
        AuditEntry(
            kind="route.rejected",
            outcome="rejected",
            reason_code="agreement.revoked",
            message_id=MSG,
            recipients=f"{COUNCIL},{SCHOOL}",
            detail=f"{COUNCIL}: agreement.permits,consent.given; {SCHOOL}: agreement.revoked",
            **common,  # type: ignore[arg-type]
        ),
        AuditEntry(
            kind="route.delivered",
            outcome="delivered",
            message_id=DELIVERED_MSG,
            recipients=COUNCIL,
            detail=f"{COUNCIL}: agreement.permits,fields.withheld,consent.given",
            **common,  # type: ignore[arg-type]
        ),
    ]


def _recipients(response: httpx.Response) -> list[list[str]]:
    return [d["recipients"] for d in response.json()["decisions"]]


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.HUB_OPERATOR])
async def test_auditors_and_operators_see_every_decision(hub: Hub, role: Role) -> None:
    found = await hub.message(MSG, hub.bearer(role))
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["about"], body["id"]) == ("message", MSG)
    assert _recipients(found) == [[COUNCIL], [SCHOOL]]
    school = body["decisions"][1]
    assert school["line"] == REVOKED_LINE
    assert school["outcome"] == "rejected"
    assert (school["agreement_id"], school["agreement_version"]) == ("isa-demo", 2)
    assert school["reasons"] == [
        {"code": "agreement.revoked", "sentence": "The agreement has been revoked: nothing more is shared under it."}
    ]
    assert datetime.fromisoformat(school["at"]) == AT
    assert "subject_token" not in school
    assert "purpose" not in school


async def test_a_delivery_says_what_the_permit_rests_on(hub: Hub) -> None:
    found = await hub.message(DELIVERED_MSG, hub.bearer(Role.AUDITOR))
    assert found.status_code == 200, found.text
    (decision,) = found.json()["decisions"]
    assert decision["outcome"] == "delivered"
    assert [r["code"] for r in decision["reasons"]] == ["agreement.permits", "fields.withheld", "consent.given"]


async def test_the_sending_agencys_admin_sees_every_recipient(hub: Hub) -> None:
    found = await hub.message(MSG, hub.admin(POLICE))
    assert found.status_code == 200, found.text
    assert _recipients(found) == [[COUNCIL], [SCHOOL]]


async def test_a_recipients_admin_sees_only_its_own_reasons(hub: Hub) -> None:
    found = await hub.message(MSG, hub.admin(SCHOOL))
    assert found.status_code == 200, found.text
    assert _recipients(found) == [[SCHOOL]]
    assert found.json()["decisions"][0]["line"] == REVOKED_LINE


async def test_another_agencys_message_is_the_same_404_as_none(hub: Hub) -> None:
    not_yours = await hub.message(MSG, hub.admin(STRANGER))
    missing = await hub.message(NEVER_SEEN, hub.admin(STRANGER))
    missing_for_auditor = await hub.message(NEVER_SEEN, hub.bearer(Role.AUDITOR))
    assert not_yours.status_code == missing.status_code == missing_for_auditor.status_code == 404
    bodies = [r.json() for r in (not_yours, missing, missing_for_auditor)]
    assert {b["code"] for b in bodies} == {"explain.not_found"}
    assert len({b["message"] for b in bodies}) == 1
    assert sorted(bodies[0]) == ["code", "error_id", "message"]
    # The council got the delivered message; the school did not.
    assert (await hub.message(DELIVERED_MSG, hub.admin(COUNCIL))).status_code == 200
    assert (await hub.message(DELIVERED_MSG, hub.admin(SCHOOL))).status_code == 404


async def test_roles_without_access(hub: Hub) -> None:
    assert (await hub.message(MSG, hub.bearer(Role.OPS_VIEWER))).status_code == 403
    refused = await hub.message(MSG, {})
    assert refused.status_code == 401
    assert refused.json()["code"] == "auth.missing_token"


async def test_a_malformed_id_is_422(hub: Hub) -> None:
    assert (await hub.message("not-a-uuid", hub.bearer(Role.AUDITOR))).status_code == 422
    assert (await hub.request("-leading-dash", hub.bearer(Role.AUDITOR))).status_code == 422


async def test_every_explain_call_is_audited(hub: Hub) -> None:
    await hub.message(MSG, hub.admin(STRANGER))  # permitted, then 404
    await hub.message(MSG, hub.bearer(Role.OPS_VIEWER, subject="viewer"))
    with hub.factory() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.source == "GET /explain/messages/{message_id}").order_by(AuditEvent.id)
        ).all()
    assert [(r.actor, r.outcome, r.reason_code) for r in rows] == [
        ("admin@stranger-demo", "permit", None),
        ("viewer", "deny", "auth.forbidden"),
    ]


async def test_a_denied_request_is_explained_by_its_request_id(hub: Hub) -> None:
    headers = hub.admin(POLICE) | {"X-Request-ID": "req-explain-1"}
    denied = await hub.client.post("/agreements/isa-other/revoke", headers=headers)
    assert denied.status_code == 403
    assert denied.headers["X-Request-ID"] == "req-explain-1"

    found = await hub.request("req-explain-1", hub.bearer(Role.AUDITOR))
    assert found.status_code == 200, found.text
    (decision,) = found.json()["decisions"]
    assert decision["outcome"] == "denied"
    assert decision["actor"] == "admin@police-demo"
    assert decision["route"] == "POST /agreements/{agreement_id}/revoke agreement_id=isa-other"
    assert decision["reason_code"] == "auth.forbidden"
    assert decision["line"].startswith("denied 20")
    assert "auth.forbidden — The caller's roles do not permit this request" in decision["line"]
    assert "req-explain-1" not in decision["line"]

    # The admin who made it may ask too; an admin of another agency gets the 404 of an unknown id.
    assert (await hub.request("req-explain-1", hub.admin(POLICE))).status_code == 200
    not_yours = await hub.request("req-explain-1", hub.admin(COUNCIL))
    missing = await hub.request("req-never-made", hub.admin(COUNCIL))
    assert not_yours.status_code == missing.status_code == 404
    assert not_yours.json()["message"] == missing.json()["message"]


async def test_a_request_id_is_matched_exactly(hub: Hub) -> None:
    # `_` is a LIKE wildcard and `req-2` a prefix of `req-20`: neither may match another request.
    await hub.client.get("/auth/whoami", headers=hub.bearer(Role.AUDITOR) | {"X-Request-ID": "reqX2"})
    await hub.client.get("/auth/whoami", headers=hub.bearer(Role.AUDITOR) | {"X-Request-ID": "req-20"})
    auditor = hub.bearer(Role.AUDITOR)
    assert (await hub.request("req_2", auditor)).status_code == 404
    assert (await hub.request("req-2", auditor)).status_code == 404
    found = await hub.request("req-20", auditor)
    assert found.status_code == 200
    assert [d["outcome"] for d in found.json()["decisions"]] == ["permitted"]
    with hub.factory() as session:  # the query itself, not only the check after it
        assert service.request_rows(session, "req_2") == []
        assert len(service.request_rows(session, "req-20")) == 1
