"""Connector health, time-to-triage and policy effect figures over the real hub app (SQLite and PostgreSQL).

The connector's own heartbeat code (``connectors.agent.heartbeat``) signs in with the agency's
assertion through ``HubClient`` against ``create_app`` over ASGI; the hub keeps the latest
heartbeat and ``GET /ops/connectors`` shows version, clock skew (a deliberately skewed clock is
flagged) and key expiry from the registry. A wrong or unsigned assertion is refused (401) and
audited, and stores nothing. Time-to-triage comes from real public-referral rows and progress
reports; policy effect times from ``policy.applied`` audit rows.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.agent.config import ConnectorConfig
from connectors.agent.heartbeat import Heartbeat, Vitals, software_version
from connectors.agent.runtime import running_connector
from connectors.identity import MatchingKey
from connectors.sdk.hubauth import HubClient
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.audit.service import append_now_rows
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.fleet.effect import applied_row
from hub.fleet.models import ConnectorHeartbeat
from hub.intake import service as intake
from hub.intake.enums import ReferralStatus
from hub.policy.bus import PolicyEvent
from hub.policy.changes import ChangeKind
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Unauthenticated
from onedoor.ids import AgencyId
from onedoor.settings import DatabaseSettings, Settings
from tests.e2e.hub import hub_settings, running_hub
from tests.factories import World
from tests.unit.triage.world import FakeProgress

pytestmark = pytest.mark.integration

MET = AgencyId("met-police")
DESK = AgencyId("mash-triage-desk")
SKEW_S = 40.0  # the connector's clock is this far behind the hub's: more than the 30 s limit


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Hub:
    app: FastAPI
    http: httpx.AsyncClient
    issuer: DevIssuer
    keys: AgencyKeyPair

    @property
    def factory(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.session_factory
        return factory

    def headers(self, role: Role, agency: AgencyId | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject=f'{role}-user', roles=[role], agency=agency)}"}

    def heartbeat(
        self, keys: AgencyKeyPair | None = None, *, skew_s: float = 0.0, problems: list[str] | None = None
    ) -> Heartbeat:
        keys = keys or self.keys
        client = HubClient("http://hub.test", keys, transport=httpx.ASGITransport(app=self.app))

        async def vitals() -> Vitals:
            return Vitals(str(keys.signing_key_id), str(keys.encryption_key_id), 2, 0, problems or [])

        return Heartbeat(client, vitals, every_s=30.0, version_text="9.8.7", clock=lambda: time.time() - skew_s)

    async def register(self, keys: AgencyKeyPair, kind: str) -> None:
        created = await self.http.post(
            "/agencies",
            json={
                "id": str(keys.agency),
                "display_name": f"{keys.agency} (synthetic)",
                "kind": kind,
                "signing_public_key": _b64(keys.signing_public),
                "encryption_public_key": _b64(keys.encryption_public),
            },
            headers=self.headers(Role.HUB_OPERATOR),
        )
        assert created.status_code == 201, created.text

    async def connectors(self) -> dict[str, dict[str, object]]:
        response = await self.http.get("/ops/connectors", headers=self.headers(Role.OPS_VIEWER))
        assert response.status_code == 200, response.text
        return {row["agency"]: row for row in response.json()}

    def heartbeat_authz(self) -> list[AuditEvent]:
        with self.factory() as session:
            stmt = select(AuditEvent).where(
                AuditEvent.kind == "api.authz", AuditEvent.source == "POST /agencies/me/heartbeat"
            )
            return list(session.scalars(stmt.order_by(AuditEvent.id)))


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            hub = Hub(app, http, DevIssuer.from_settings(settings), AgencyKeyPair.generate(MET))
            await hub.register(hub.keys, "police")
            yield hub


async def test_a_heartbeat_shows_version_skew_and_keys_and_is_audited(hub: Hub) -> None:
    assert (await hub.connectors())[str(MET)]["status"] == "never"
    beat = hub.heartbeat(skew_s=SKEW_S, problems=["connector.inbox_stopped"])
    answer = await beat.beat()
    assert answer["agency"] == str(MET)
    assert abs(answer["clock_skew_ms"] - SKEW_S * 1000) < 2_000, "hub time minus the connector's clock"
    await beat.beat()  # a second one carries the first's round trip and replaces it

    health = (await hub.connectors())[str(MET)]
    assert health["status"] == "ok"
    assert health["version"] == "9.8.7"
    assert health["signing_key_id"] == str(hub.keys.signing_key_id)
    assert (health["outbox_pending"], health["parked"]) == (2, 0)
    assert health["problems"] == ["connector.inbox_stopped"]
    assert health["flags"] == ["connector.clock_skew", "connector.problems"]
    assert health["key_expiry"] == {"key_id": None, "not_after": None, "days_left": None}, "current keys never end"
    with hub.factory() as session:
        assert session.scalar(select(func.count()).select_from(ConnectorHeartbeat)) == 1
        assert session.get(ConnectorHeartbeat, str(MET)).beats == 2  # type: ignore[union-attr]
    assert [(r.outcome, r.actor) for r in hub.heartbeat_authz()] == [("permit", str(MET))] * 2


async def test_a_clock_within_the_limit_is_not_flagged(hub: Hub) -> None:
    await hub.heartbeat(skew_s=-2.0).beat()
    health = (await hub.connectors())[str(MET)]
    assert health["flags"] == []
    assert -4_000 < health["clock_skew_ms"] < 0, "a connector ahead of the hub has a negative skew"  # type: ignore[operator]


async def test_a_connector_still_using_a_rotated_key_shows_its_expiry(hub: Hub) -> None:
    rotated = AgencyKeyPair.generate(MET)
    added = await hub.http.post(
        f"/agencies/{MET}/keys",
        json={"use": "signing", "public_key": _b64(rotated.signing_public)},
        headers=hub.headers(Role.HUB_OPERATOR),
    )
    assert added.status_code == 201, added.text
    await hub.heartbeat().beat()  # still signs with (and reports) the retired key, valid for its overlap
    health = (await hub.connectors())[str(MET)]
    expiry = health["key_expiry"]
    assert isinstance(expiry, dict)
    assert expiry["key_id"] == str(hub.keys.signing_key_id)
    assert 6.9 < expiry["days_left"] <= 7.0, "the retired key ends one envelope lifetime (7 days) after rotation"
    assert "connector.key_expiring" in health["flags"]  # type: ignore[operator]


async def test_wrong_and_unsigned_assertions_are_refused_audited_and_store_nothing(hub: Hub) -> None:
    impostor = AgencyKeyPair.generate(MET)  # claims to be the Met, signs with a key the hub never saw
    with pytest.raises(Unauthenticated) as refused:
        await hub.heartbeat(impostor).beat()
    assert refused.value.code == "auth.key_unknown"
    now = int(time.time())
    claims = {"iss": str(MET), "sub": str(MET), "aud": "onedoor-hub", "iat": now, "exp": now + 60, "jti": "x1"}
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": str(hub.keys.signing_key_id)})
    body = {
        "version": "1.0.0",
        "sent_at": datetime.now(UTC).isoformat(),
        "interval_s": 30,
        "signing_key_id": str(hub.keys.signing_key_id),
        "encryption_key_id": str(hub.keys.encryption_key_id),
    }
    response = await hub.http.post("/agencies/me/heartbeat", json=body, headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401
    assert response.json()["code"] == "auth.assertion_invalid"
    anonymous = await hub.http.post("/agencies/me/heartbeat", json=body)
    assert anonymous.status_code == 401
    rows = hub.heartbeat_authz()
    assert [(r.outcome, r.reason_code) for r in rows] == [
        ("deny", "auth.key_unknown"),
        ("deny", "auth.assertion_invalid"),
        ("deny", "auth.missing_token"),
    ]
    assert (await hub.connectors())[str(MET)]["status"] == "never"


async def test_a_heartbeat_with_bad_fields_is_refused_with_a_clear_error(hub: Hub) -> None:
    client = HubClient("http://hub.test", hub.keys, transport=httpx.ASGITransport(app=hub.app))
    with pytest.raises(Exception) as refused:  # noqa: PT011 - checked below
        await client.call("POST", "/agencies/me/heartbeat", json={"version": "1", "sent_at": "soon"})
    assert getattr(refused.value, "code", None) == "request.invalid"
    naive = {
        "version": "1.0.0",
        "sent_at": "2026-11-22T11:00:00",
        "interval_s": 30,
        "signing_key_id": str(hub.keys.signing_key_id),
        "encryption_key_id": str(hub.keys.encryption_key_id),
    }
    with pytest.raises(Exception) as naive_refused:  # noqa: PT011 - checked below
        await client.call("POST", "/agencies/me/heartbeat", json=naive)
    assert getattr(naive_refused.value, "code", None) == "fleet.naive_time"


@pytest.mark.parametrize("path", ["/ops/connectors", "/ops/triage", "/ops/policy-effect"])
async def test_who_may_read_the_ops_figures(hub: Hub, path: str) -> None:
    for role in (Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR):
        assert (await hub.http.get(path, headers=hub.headers(role))).status_code == 200, role
    admin = await hub.http.get(path, headers=hub.headers(Role.AGENCY_ADMIN, MET))
    assert admin.status_code == 403
    assert (await hub.http.get(path)).status_code == 401
    with hub.factory() as session:
        outcomes = session.scalars(
            select(AuditEvent.outcome).where(AuditEvent.kind == "api.authz", AuditEvent.source == f"GET {path}")
        ).all()
    assert sorted(outcomes) == ["deny", "deny", "permit", "permit", "permit"]


async def test_time_to_triage_from_public_referrals(hub: Hub) -> None:
    desk_keys = AgencyKeyPair.generate(DESK)
    await hub.register(desk_keys, "triage")
    now = datetime.now(UTC)
    desk = intake.TriageDesk(DESK, "ik1_" + "0" * 32, b"\x04" + b"\x00" * 64)
    # (reference, received minutes ago, first triaged minutes ago or None, then closed minutes ago or None)
    cases = [
        ("OD-AAAAAAA2", 60, 50, None),  # 10 minutes to triage
        ("OD-AAAAAAA3", 60, 40, 5),  # 20 minutes (closing later does not change it)
        ("OD-AAAAAAA4", 45, 15, None),  # 30 minutes
        ("OD-AAAAAAA5", 30, None, None),  # still waiting, 30 minutes
        ("OD-AAAAAAA6", 12, None, None),  # still waiting
        ("OD-AAAAAAA7", 60 * 24 * 10, 60 * 24 * 9, None),  # triaged 9 days ago: outside the 7-day window
    ]
    with hub.factory() as session, session.begin():
        for reference, received, _triaged, _closed in cases:
            intake.record_received(session, desk, reference, now - timedelta(minutes=received), None)
        session.flush()
        for reference, _received, triaged, closed in cases:
            if triaged is not None:
                at = now - timedelta(minutes=triaged)
                intake.update_progress(session, DESK, reference, ReferralStatus.BEING_HANDLED, at)
            if closed is not None:
                intake.update_progress(session, DESK, reference, ReferralStatus.CLOSED, now - timedelta(minutes=closed))
    response = await hub.http.get("/ops/triage", headers=hub.headers(Role.OPS_VIEWER))
    assert response.status_code == 200, response.text
    figures = response.json()
    assert figures["window_s"] == 7 * 86_400
    assert figures["count"] == 3
    assert figures["p50_s"] == pytest.approx(20 * 60, abs=1)
    assert figures["p95_s"] == pytest.approx(29 * 60, abs=1)  # between 20 and 30 minutes, near the top
    assert figures["waiting"] == 2
    assert figures["oldest_wait_s"] == pytest.approx(30 * 60, abs=5)
    wider = (await hub.http.get("/ops/triage?window_s=2592000", headers=hub.headers(Role.AUDITOR))).json()
    assert wider["count"] == 4, "a 30-day window takes in the referral triaged 9 days ago"


async def test_policy_effect_figures_from_the_routers_rows(hub: Hub) -> None:
    tables = World.make().tables()  # no policy loaded: every change counts as "other"
    now_ms = int(time.time() * 1000)
    rows = [
        applied_row(
            PolicyEvent(ChangeKind.AGREEMENT, "isa-one", now_ms - 5_000),
            tables,
            finished_ms=now_ms - 4_700,
            reloaded=True,
        ),
        applied_row(
            PolicyEvent(ChangeKind.REGISTRY, "met-police", now_ms - 3_000),
            tables,
            finished_ms=now_ms - 2_900,
            reloaded=True,
        ),
        # Two days old: outside the default one-day window.
        applied_row(
            PolicyEvent(ChangeKind.AGREEMENT, "isa-old", now_ms - 2 * 86_400_000),
            tables,
            finished_ms=now_ms - 2 * 86_400_000 + 9_000,
            reloaded=True,
        ),
    ]
    append_now_rows(hub.factory, rows)
    figures = (await hub.http.get("/ops/policy-effect", headers=hub.headers(Role.HUB_OPERATOR))).json()
    assert figures["other"]["count"] == 2
    assert (figures["other"]["last_ms"], figures["other"]["max_ms"], figures["other"]["p50_ms"]) == (100, 300, 200)
    assert figures["revocation"]["count"] == figures["withdrawal"]["count"] == 0
    wider = (await hub.http.get("/ops/policy-effect?window_s=259200", headers=hub.headers(Role.AUDITOR))).json()
    assert (wider["other"]["count"], wider["other"]["max_ms"]) == (3, 9_000)


async def test_a_running_connector_beats_and_goes_late_when_stopped(kafka_bootstrap: str, tmp_path: Path) -> None:
    police = AgencyKeyPair.generate(AgencyId("it-beat-county-police"))
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        await hub.register(police, "police")
        home = tmp_path / "connector"
        police.save(home / "keys")
        MatchingKey.generate().save(home / "matching.key")
        config = ConnectorConfig(
            agency=str(police.agency),
            keys_dir=home / "keys",
            matching_key_path=home / "matching.key",
            disclosure_log_path=home / "disclosures.sqlite3",
            heartbeat_seconds=0.3,
            kafka={"topic_prefix": hub.settings.kafka.topic_prefix},  # type: ignore[arg-type]
            api={"token": "heartbeat-test-token-" + "z" * 32},  # type: ignore[arg-type]
        )
        viewer = {"Authorization": f"Bearer {hub.issuer.mint(subject='it-ops', roles=[Role.OPS_VIEWER])}"}

        async def health() -> dict[str, Any]:
            response = await hub.client.get("/ops/connectors", headers=viewer)
            assert response.status_code == 200, response.text
            return next(row for row in response.json() if row["agency"] == str(police.agency))

        # The hub app's in-process transport: the connector's own agency client reaches the same app.
        transport = hub.client._transport
        async with running_connector(
            config, bootstrap=kafka_bootstrap, client=hub.client, hub_transport=transport, progress=FakeProgress()
        ) as process:
            assert process.heartbeat is not None
            deadline = time.monotonic() + 20
            while process.heartbeat.sent < 2:
                assert time.monotonic() < deadline, f"no heartbeats (last error {process.heartbeat.last_error})"
                await asyncio.sleep(0.05)
            shown = await health()
            assert shown["status"] == "ok"
            assert shown["version"] == software_version()
            assert (shown["signing_key_id"], shown["encryption_key_id"]) == (
                str(police.signing_key_id),
                str(police.encryption_key_id),
            )
            assert (shown["outbox_pending"], shown["parked"], shown["problems"]) == (0, 0, [])
            assert abs(shown["clock_skew_ms"]) < 2_000, "the same machine's clock"
            assert shown["flags"] == []
            assert process.problems == []
        await asyncio.sleep(1.2)  # more than three 0.3 s intervals of silence
        late = await health()
        assert late["status"] == "late"
        assert "connector.late" in late["flags"]
