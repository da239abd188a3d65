"""The ops data end to end: real hub (API, router, SQLite), real connectors, the real broker.

Referrals flow from a police force to a council and a health trust, two expire in transit; the
dashboard JSON (``/ops/dashboard``), the live stream (``/ops/stream`` under a real uvicorn
server) and ``/metrics`` then show exactly those counts by contract, by agency pair and by
reason, and the council's inbox lag (three unread, then none once its connector has read them).
Who may read them is checked for every role and for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from connectors.synthetic import referral
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.settings import OpsSettings
from tests.e2e.hub import RunningHub, agreement_body, hub_settings, running_hub

pytestmark = pytest.mark.integration

REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
SUBJECT = "st1_FAKEopsSubjectNeverShown0001"


def _bearer(hub: RunningHub, role: Role, agency: AgencyId | None = None) -> dict[str, str]:
    token = hub.issuer.mint(subject=f"ops-test-{role}", roles=[role], agency=agency)
    return {"Authorization": f"Bearer {token}"}


async def _until(
    hub: RunningHub, condition: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0
) -> dict[str, Any]:
    headers = _bearer(hub, Role.OPS_VIEWER)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await hub.client.get("/ops/dashboard", headers=headers)
        assert response.status_code == 200, response.text
        snapshot: dict[str, Any] = response.json()
        if condition(snapshot):
            return snapshot
        assert asyncio.get_running_loop().time() < deadline, f"the dashboard never got there: {snapshot}"
        await asyncio.sleep(0.3)


def _lag(snapshot: dict[str, Any], agency: str) -> int | None:
    return next((e["lag"] for e in snapshot["lag"] if e["agency"] == agency), None)


@contextlib.asynccontextmanager
async def _served(app: FastAPI) -> AsyncIterator[str]:
    """The running app (its lifespan already started) behind a real uvicorn server in this loop."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn stopped"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_dashboard_metrics_and_stream_show_the_traffic(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = hub_settings(tmp_path, kafka_bootstrap).model_copy(update={"ops": OpsSettings(lag_refresh_seconds=1.0)})
    police = AgencyKeyPair.generate(AgencyId("ops-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-ops-borough-csc"))
    health = AgencyKeyPair.generate(AgencyId("ops-health-trust"))
    async with running_hub(settings, refresh_interval_s=0.5) as hub:
        for keys, kind in ((police, "police"), (council, "children-services"), (health, "health")):
            await hub.register(keys, kind)
        await hub.agree(agreement_body("isa-ops-council", police.agency, council.agency))
        await hub.agree(agreement_body("isa-ops-health", police.agency, health.agency))
        sender = await hub.connector(police, await hub.policy())
        async with sender:
            for seed in range(3):
                await sender.send(
                    contract=REFERRAL,
                    version=1,
                    recipients=[council.agency],
                    purpose=PURPOSE,
                    body=referral(seed),
                    subject_token=SUBJECT,
                )
            await sender.send(
                contract=REFERRAL, version=1, recipients=[health.agency], purpose=PURPOSE, body=referral(7)
            )
            for seed in range(2):  # expired in transit: the router refuses them
                [expired] = sender.seal(
                    contract=REFERRAL,
                    version=1,
                    recipients=[council.agency],
                    purpose=PURPOSE,
                    body=referral(20 + seed),
                    ttl=timedelta(milliseconds=1),
                )
                await asyncio.sleep(0.01)
                await sender.publish(expired.header, expired.value)

            # Nobody has read the council's inbox yet: three records behind.
            snapshot = await _until(
                hub, lambda s: s["totals"] == {"delivered": 4, "rejected": 2} and _lag(s, council.agency) == 3
            )
            assert snapshot["flow_by_contract"] == [
                {"contract": REFERRAL, "per_s": snapshot["flow_by_contract"][0]["per_s"], "count": 4}
            ]
            pairs = {(p["sender"], p["recipient"]): p["count"] for p in snapshot["flow_by_pair"]}
            assert pairs == {(police.agency, council.agency): 3, (police.agency, health.agency): 1}
            assert [(r["reason"], r["count"]) for r in snapshot["rejections"]] == [("envelope.expired", 2)]
            assert snapshot["windows"]["1h"]["totals"] == {"delivered": 4, "rejected": 2}
            assert sum(p["delivered"] for p in snapshot["series"]) == 4
            assert {e["status"] for e in snapshot["lag"]} == {"ok"}
            # End to end latency of the four delivered: created at the sender to routed.
            latency = snapshot["latency_ms"]
            assert latency["count"] == 4
            assert 0 <= latency["p50"] <= latency["p95"] <= latency["p99"] < 30_000
            raw = json.dumps(snapshot)
            assert SUBJECT not in raw, "no subject token in the dashboard"
            assert "given_name" not in raw

            # /metrics: the same figures.
            metrics = await hub.client.get("/metrics", headers=_bearer(hub, Role.OPS_VIEWER))
            assert metrics.status_code == 200, metrics.text
            text = metrics.text
            assert f'onedoor_messages_delivered_total{{contract="{REFERRAL}"}} 4.0' in text
            assert (
                f'onedoor_flow_copies_delivered_total{{recipient="{council.agency}",sender="{police.agency}"}} 3.0'
                in text
            )
            assert 'onedoor_messages_rejected_total{reason="envelope.expired"} 2.0' in text
            assert f'onedoor_inbox_lag_records{{agency="{council.agency}"}} 3.0' in text
            assert 'onedoor_route_latency_seconds_bucket{le="+Inf"} 4.0' in text
            assert re.search(
                r'onedoor_http_requests_total\{method="GET",route="/ops/dashboard",status="200"\} \d', text
            )
            assert SUBJECT not in text

            # The council's connector reads its inbox: the lag falls to none.
            recipient = await hub.connector(council, await hub.policy())
            async with recipient:
                assert len(await recipient.receive(count=3, timeout_s=30)) == 3
            await _until(hub, lambda s: _lag(s, council.agency) == 0)

            # The stream, over real HTTP: the same snapshot each second.
            app = hub.client._transport.app  # type: ignore[attr-defined]
            async with (
                _served(app) as base,
                httpx.AsyncClient(base_url=base, timeout=10) as http,
                http.stream("GET", "/ops/stream", headers=_bearer(hub, Role.AUDITOR)) as stream,
            ):
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                frames: list[dict[str, Any]] = []
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        frames.append(json.loads(line.removeprefix("data: ")))
                    if len(frames) == 3:
                        break
            assert all(f["totals"]["delivered"] == 4 for f in frames)
            stamps = [f["generated_at"] for f in frames]
            assert stamps == sorted(stamps)
            assert len(set(stamps)) >= 2, "fresh snapshots, not one repeated"


ROLE_OUTCOMES = [
    (Role.OPS_VIEWER, 200),
    (Role.HUB_OPERATOR, 200),
    (Role.AUDITOR, 200),
    (Role.AGENCY_ADMIN, 403),
    (None, 401),
]


async def test_who_may_read_the_ops_data(kafka_bootstrap: str, tmp_path: Path) -> None:
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        for role, status in ROLE_OUTCOMES:
            agency = AgencyId("ops-any-agency") if role is Role.AGENCY_ADMIN else None
            headers = {} if role is None else _bearer(hub, role, agency)
            for path in ("/ops/dashboard", "/metrics", "/ops/stream"):
                if path == "/ops/stream" and status == 200:
                    continue  # an endless stream: read over real HTTP in the test above
                response = await hub.client.get(path, headers=headers)
                assert response.status_code == status, (role, path, response.text)
                if status == 200:
                    assert response.content
                else:
                    code = "auth.forbidden" if status == 403 else "auth.missing_token"
                    assert response.json()["code"] == code, (role, path)
    # Every decision was audited: one api.authz row per request, naming the route and the outcome.
    with hub.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT outcome, source FROM audit_event WHERE kind = 'api.authz' AND source LIKE 'GET /ops/dashboard%'"
        ).all()
    assert sorted(outcome for outcome, _ in rows) == ["deny", "deny", "permit", "permit", "permit"]
