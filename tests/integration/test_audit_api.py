"""`GET /audit/events` and `GET /audit/chain` over the real hub API, on SQLite and a real PostgreSQL.

Auditors and hub operators search the trail (metadata only, newest first, in pages) and see
the chain's status from the background verification; ops viewers and agency admins get the
usual 403, and every one of those decisions is itself an audit row.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.audit.service import append_now_rows
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.ids import AgencyId
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

MSG = "4f1b9d2c-6a3e-4b7f-8c8d-2e3f4a5b6c7d"
SUBJECT = "st1_" + "c" * 30
OTHER_SUBJECT = "st1_" + "d" * 30


@dataclass
class Hub:
    app: FastAPI
    client: httpx.AsyncClient
    factory: sessionmaker[Session]
    issuer: DevIssuer

    def bearer(self, *roles: Role, agency: AgencyId | None = None, subject: str = "dev:tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject=subject, roles=roles, agency=agency)}"}

    async def events(self, headers: dict[str, str], **params: Any) -> httpx.Response:
        return await self.client.get("/audit/events", params=params, headers=headers)


def _rows() -> list[dict[str, object]]:
    at = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    rows: list[dict[str, object]] = []
    for i in range(30):
        rows.append(
            {
                "at": at + timedelta(seconds=i),
                "kind": "route.delivered" if i % 3 else "route.rejected",
                "actor": "met-police" if i % 2 else "lb-hackney-csc",
                "outcome": "delivered" if i % 3 else "rejected",
                "reason_code": None if i % 3 else "agreement.none",
                "message_id": MSG if i in {4, 5} else str(uuid.UUID(int=i + 1)),
                "recipients": "lb-hackney-csc,hackney-schools" if i % 2 else "met-police-east",
                "agreement_id": "isa-met-hackney" if i < 10 else "isa-other",
                "subject_token": SUBJECT if i % 10 == 0 else OTHER_SUBJECT,
                "source": f"t.out:0:{i}",
                "latency_ms": i,
            }
        )
    return rows


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        factory: sessionmaker[Session] = app.state.session_factory
        append_now_rows(factory, _rows())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield Hub(app, client, factory, DevIssuer.from_settings(settings))


async def test_an_auditor_finds_a_message_newest_first(hub: Hub) -> None:
    response = await hub.events(hub.bearer(Role.AUDITOR), message_id=MSG)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["seq"] for e in body["events"]] == [6, 5]
    assert {e["message_id"] for e in body["events"]} == {MSG}
    assert body["next_before_seq"] is None
    # The columns and nothing more.
    assert set(body["events"][0]) == {c.name for c in AuditEvent.__table__.columns}


FILTERS = [
    ("by agency, as actor or as a whole recipient", {"agency": "hackney-schools"}, 15),
    ("an agency id that is a prefix of another matches only itself", {"agency": "met-police"}, 15),
    ("by agreement", {"agreement": "isa-met-hackney"}, 10),
    ("by subject token", {"subject_token": SUBJECT}, 3),
    ("by kind", {"kind": "route.rejected"}, 10),
    ("filters combine", {"agreement": "isa-met-hackney", "kind": "route.rejected"}, 4),
]


@pytest.mark.parametrize(("why", "params", "count"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_filters(hub: Hub, why: str, params: dict[str, str], count: int) -> None:
    response = await hub.events(hub.bearer(Role.HUB_OPERATOR), limit=200, **params)
    assert response.status_code == 200, response.text
    assert len(response.json()["events"]) == count, why


async def test_pages_by_seq(hub: Hub) -> None:
    auditor = hub.bearer(Role.AUDITOR)
    first = (await hub.events(auditor, kind="route.delivered", limit=15)).json()
    second = (await hub.events(auditor, kind="route.delivered", limit=15, before_seq=first["next_before_seq"])).json()
    seqs = [e["seq"] for e in first["events"] + second["events"]]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == 20
    assert second["next_before_seq"] is None


async def test_a_malformed_filter_is_a_clear_422(hub: Hub) -> None:
    response = await hub.events(hub.bearer(Role.AUDITOR), subject_token="Testy McFakeface")
    assert response.status_code == 422
    assert response.json()["code"] == "subject_token.invalid"
    assert "Testy" not in response.json()["message"]


@pytest.mark.parametrize(
    ("roles", "agency", "status"),
    [
        ((Role.AUDITOR,), None, 200),
        ((Role.HUB_OPERATOR,), None, 200),
        ((Role.OPS_VIEWER,), None, 403),
        ((Role.AGENCY_ADMIN,), AgencyId("met-police"), 403),
    ],
)
async def test_only_auditors_and_operators_read_the_trail_and_each_decision_is_audited(
    hub: Hub, roles: tuple[Role, ...], agency: AgencyId | None, status: int
) -> None:
    subject = f"dev:{uuid.uuid4().hex[:8]}"
    headers = hub.bearer(*roles, agency=agency, subject=subject)
    for path in ("/audit/events", "/audit/chain"):
        response = await hub.client.get(path, headers=headers)
        assert response.status_code == status, (path, response.text)
    with hub.factory() as session:
        outcomes = list(
            session.scalars(
                select(AuditEvent.outcome).where(AuditEvent.kind == "api.authz", AuditEvent.actor == subject)
            )
        )
    assert outcomes == ["permit" if status == 200 else "deny"] * 2


async def test_no_token_is_401(hub: Hub) -> None:
    assert (await hub.client.get("/audit/events")).status_code == 401
    assert (await hub.client.get("/audit/chain")).status_code == 401


async def test_the_chain_status_comes_from_the_background_verification(hub: Hub) -> None:
    auditor = hub.bearer(Role.AUDITOR)
    monitor = hub.app.state.audit_monitor
    await asyncio.to_thread(monitor.checkpoint_now)
    await asyncio.to_thread(monitor.verify_now)
    body = (await hub.client.get("/audit/chain", headers=auditor)).json()
    assert body["verification"]["status"] == "verified"
    assert body["checkpoint_seq"] is not None
    assert body["head_seq"] >= body["verification"]["last_seq"] >= 30
    with hub.factory() as session, session.begin():
        session.execute(text("UPDATE audit_event SET actor = 'someone-else' WHERE seq = 12"))
    # Not re-verified per request: still the cached result until the monitor runs again.
    assert (await hub.client.get("/audit/chain", headers=auditor)).json()["verification"]["status"] == "verified"
    await asyncio.to_thread(monitor.verify_now)
    broken = (await hub.client.get("/audit/chain", headers=auditor)).json()["verification"]
    assert (broken["status"], broken["code"], broken["broken_seq"]) == ("broken", "audit.row_altered", 12)
