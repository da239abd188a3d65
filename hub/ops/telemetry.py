"""The OpenTelemetry switch: ``ONEDOOR_TELEMETRY__ENABLED=true`` traces every hub HTTP request.

Off by default, and then nothing of OpenTelemetry is imported. On, it needs the
``onedoor[telemetry]`` extra: a tracer provider of the app's own (service name from settings)
exports spans in batches to an OTLP/HTTP endpoint (``ONEDOOR_TELEMETRY__OTLP_ENDPOINT``, else the
SDK's default or ``OTEL_EXPORTER_OTLP_*``) or to stdout (``ONEDOOR_TELEMETRY__EXPORTER=console``).
No request header or body goes into a span; span names carry the route template.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import TYPE_CHECKING, Any

from onedoor.errors import ValidationFailed
from onedoor.logging import get_logger
from onedoor.settings import TelemetrySettings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = get_logger(__name__)

EXCLUDED_URLS = "/metrics,/healthz,/readyz,/ops/stream"
"""Probes, scrapes and long-lived streams make no spans."""


def _exporter(settings: TelemetrySettings) -> Any:
    if settings.exporter == "console":
        export = _otel("opentelemetry.sdk.trace.export")
        return export.ConsoleSpanExporter(service_name=settings.service_name)
    otlp = _otel("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    return otlp.OTLPSpanExporter(endpoint=settings.otlp_endpoint) if settings.otlp_endpoint else otlp.OTLPSpanExporter()


def _otel(module: str) -> Any:
    """Import an OpenTelemetry module.

    Raises:
        ValidationFailed: ``telemetry.unavailable`` without the ``onedoor[telemetry]`` extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ValidationFailed(
            "telemetry.unavailable",
            "tracing is enabled but OpenTelemetry is not installed: pip install 'onedoor[telemetry]'",
        ) from exc


def _provider(settings: TelemetrySettings, service_name: str, exporter: Any, batch: bool) -> Any:
    """A tracer provider named ``service_name`` exporting to ``exporter``, else to the configured one.

    Raises:
        ValidationFailed: ``telemetry.unavailable`` without the ``onedoor[telemetry]`` extra.
    """
    trace_sdk = _otel("opentelemetry.sdk.trace")
    export = _otel("opentelemetry.sdk.trace.export")
    resources = _otel("opentelemetry.sdk.resources")
    span_exporter = exporter if exporter is not None else _exporter(settings)
    provider = trace_sdk.TracerProvider(resource=resources.Resource.create({"service.name": service_name}))
    processor = export.BatchSpanProcessor(span_exporter) if batch else export.SimpleSpanProcessor(span_exporter)
    provider.add_span_processor(processor)
    return provider


def instrument(app: FastAPI, settings: TelemetrySettings, *, exporter: Any = None, batch: bool = True) -> Any:
    """Trace ``app``'s requests when ``settings.enabled``; the tracer provider, or ``None`` when off.

    Args:
        app: the hub's application, before it starts.
        settings: the telemetry section of the settings.
        exporter: a span exporter to use instead of the configured one (tests: the in-memory one).
        batch: export in batches (default) or as each span ends (tests).

    Raises:
        ValidationFailed: ``telemetry.unavailable`` when enabled without the ``onedoor[telemetry]`` extra.
    """
    if not settings.enabled:
        return None
    fastapi_instrumentation = _otel("opentelemetry.instrumentation.fastapi")
    provider = _provider(settings, settings.service_name, exporter, batch)
    fastapi_instrumentation.FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS
    )
    app.state.tracer_provider = provider
    log.info("telemetry.enabled", exporter="custom" if exporter is not None else settings.exporter)
    return provider


_router_tracer: Any = None


def trace_router(settings: TelemetrySettings, *, exporter: Any = None, batch: bool = True) -> Any:
    """In the router process: trace each routed batch when ``settings.enabled``; the provider, or ``None``.

    Raises:
        ValidationFailed: ``telemetry.unavailable`` when enabled without the ``onedoor[telemetry]`` extra.
    """
    global _router_tracer  # noqa: PLW0603 - one router per process; off is the cheap default
    if not settings.enabled:
        _router_tracer = None
        return None
    provider = _provider(settings, f"{settings.service_name}-router", exporter, batch)
    _router_tracer = provider.get_tracer("hub.router")
    return provider


def router_batch_span(records: int) -> contextlib.AbstractContextManager[Any]:
    """A span around deciding one batch of ``records`` (a no-op unless ``trace_router`` switched it on)."""
    if _router_tracer is None:
        return contextlib.nullcontext()
    span: contextlib.AbstractContextManager[Any] = _router_tracer.start_as_current_span(
        "router.batch", attributes={"onedoor.records": records}
    )
    return span
