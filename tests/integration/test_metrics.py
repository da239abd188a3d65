"""``GET /metrics``: Prometheus text, route templates as labels (never an id), the token rule.

The hub API runs for real (lifespan: migrations, SQLite, the snapshot task); the flow figures
themselves are checked against real traffic in ``test_ops_api.py``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.app import create_app
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.settings import DatabaseSettings, OpsSettings, Settings

pytestmark = pytest.mark.integration


def _settings(tmp_path: Path, *, metrics_open: bool = False) -> Settings:
    return Settings(
        env="test",
        home=tmp_path / "home",
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
        ops=OpsSettings(metrics_open=metrics_open),
    )


@asynccontextmanager
async def _hub(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client


async def test_metrics_label_requests_by_route_template_never_by_id(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    token = DevIssuer.from_settings(settings).mint(subject="prometheus", roles=[Role.OPS_VIEWER])
    async with _hub(settings) as client:
        secret_looking = "zz-secret-agency-not-labelled"
        assert (await client.get(f"/agencies/{secret_looking}")).status_code == 404
        assert (await client.get("/no/such/path/ZZscannerjunk")).status_code == 404
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    families = {f.name: f for f in text_string_to_metric_families(text)}  # it parses as Prometheus text
    for name in (
        "onedoor_messages_delivered",
        "onedoor_flow_copies_delivered",
        "onedoor_messages_rejected",
        "onedoor_route_latency_seconds",
        "onedoor_inbox_lag_records",
        "onedoor_http_requests",
        "onedoor_http_request_duration_seconds",
        "onedoor_ops_snapshot_age_seconds",
    ):
        assert name in families, name
    assert 'onedoor_http_requests_total{method="GET",route="/agencies/{agency_id}",status="404"} 1.0' in text
    assert 'onedoor_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert secret_looking not in text
    assert "ZZscannerjunk" not in text
    assert token.rsplit(".", 1)[1] not in text
    # The histogram has every bucket, empty while nothing was routed.
    assert 'onedoor_route_latency_seconds_bucket{le="+Inf"} 0.0' in text
    age = re.search(r"^onedoor_ops_snapshot_age_seconds ([0-9.e+-]+)$", text, re.MULTILINE)
    assert age is not None
    assert float(age.group(1)) < 10, "the snapshot task runs"


async def test_metrics_need_a_reader_token_unless_opened(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "closed")
    issuer = DevIssuer.from_settings(settings)
    async with _hub(settings) as client:
        assert (await client.get("/metrics")).status_code == 401
        admin = issuer.mint(subject="admin@x", roles=[Role.AGENCY_ADMIN], agency="ops-metrics-agency")  # type: ignore[arg-type]
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})).status_code == 403
    async with _hub(_settings(tmp_path / "open", metrics_open=True)) as client:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert "onedoor_messages_delivered" in response.text
