"""The OpenTelemetry switch: off costs nothing, on traces each request (in-memory exporter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hub.app import create_app
from hub.ops.telemetry import router_batch_span, trace_router
from onedoor.settings import DatabaseSettings, Settings, TelemetrySettings


def _settings(tmp_path: Path, telemetry: TelemetrySettings) -> Settings:
    return Settings(
        env="test",
        home=tmp_path / "home",
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
        telemetry=telemetry,
    )


def test_off_by_default_imports_no_tracing_sdk(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from hub.app import create_app; "
        "from onedoor.settings import Settings; "
        f"app = create_app(Settings(env='test', home=Path({str(tmp_path)!r}))); "
        "assert not hasattr(app.state, 'tracer_provider'); "
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.instrumentation'))]; "
        "print(loaded); assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("[]")


async def test_on_a_request_makes_a_span_named_by_its_route(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, TelemetrySettings(enabled=True, exporter="console")))
    provider = app.state.tracer_provider
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await client.get("/contracts", headers={"Authorization": "Bearer not-a-real-token"})
            assert response.status_code == 200
            assert (await client.get("/healthz")).status_code == 200  # probes are excluded
    spans = memory.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER"]
    assert [s.name for s in server] == ["GET /contracts"]
    attributes = server[0].attributes or {}
    assert attributes.get("http.route") == "/contracts"
    assert server[0].resource.attributes["service.name"] == "onedoor-hub"
    # No request header (the bearer token) is recorded on any span.
    assert all("not-a-real-token" not in str(dict(s.attributes or {})) for s in spans)


def test_router_batches_make_spans_only_when_switched_on() -> None:
    memory = InMemorySpanExporter()
    assert trace_router(TelemetrySettings()) is None
    with router_batch_span(3):
        pass  # off: a no-op context
    provider = trace_router(TelemetrySettings(enabled=True, service_name="od-test"), exporter=memory, batch=False)
    try:
        with router_batch_span(7):
            pass
        [span] = memory.get_finished_spans()
        assert span.name == "router.batch"
        assert dict(span.attributes or {}) == {"onedoor.records": 7}
        assert span.resource.attributes["service.name"] == "od-test-router"
    finally:
        provider.shutdown()
        trace_router(TelemetrySettings())  # back off for the other tests
    with router_batch_span(1):
        pass
    assert len(memory.get_finished_spans()) == 1
