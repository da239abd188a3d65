"""``GET /ops/dashboard`` (JSON), ``GET /ops/stream`` (server-sent events) and ``GET /metrics``.

All three serve what the snapshot task cached (``hub.ops.snapshot``): a viewer never makes the
hub recompute anything. Readers: ops-viewer, hub-operator and auditor, with a bearer JWT or,
for the console's pages, the console session cookie; every decision is audited once per request
(once per stream, at connect). ``/metrics`` needs the same token unless
``ONEDOOR_OPS__METRICS_OPEN=true`` (a scrape port on a private network).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.audit.service import AuditEntry
from hub.auth.deps import Credentials, request_source, require
from hub.auth.policy import AuthzDecision, authorize
from hub.auth.roles import Role
from hub.auth.tokens import Principal, TokenPolicy, TokenRefused, verify
from hub.console.shell import console_or_bearer, subject_fingerprint
from hub.deps import error_responses
from hub.ops import telemetry
from hub.ops.metrics import HttpMetricsMiddleware, HubMetrics
from hub.ops.schemas import Snapshot
from hub.ops.snapshot import OpsHub
from onedoor.errors import Unavailable
from onedoor.logging import get_logger
from onedoor.settings import Settings

log = get_logger(__name__)

READERS = (Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR)
STREAM_MAX_S = 15 * 60
"""A stream ends after this (or at its token's expiry): the browser reconnects and is authorised again."""
KEEPALIVE_S = 15.0
VERIFIED_MAX = 1024
"""Permitted reader tokens remembered per API process (all forgotten when full)."""

router = APIRouter(tags=["ops"])
_require_reader = require(*READERS)  # /metrics: a scraper's token, never a console session


_reader_check = console_or_bearer(*READERS)


def _verified(ops: OpsHub, token: str, policy: TokenPolicy) -> tuple[Principal, AuthzDecision]:
    """Verify and authorise a reader's token, remembering a permitted one until it expires.

    A dashboard polls with the same token every second or faster; its signature need not be
    checked each time. Only permits are remembered, in memory, and never past the token's expiry.
    """
    now = datetime.now(UTC)
    held = ops.verified.get(token)
    if held is not None and held[0].expires_at > now:
        return held
    principal = verify(token, policy, now)
    decision = authorize(principal, frozenset(READERS), None)
    if decision.permitted:
        if len(ops.verified) >= VERIFIED_MAX:
            ops.verified.clear()
        ops.verified[token] = (principal, decision)
    return principal, decision


async def reader(request: Request, credentials: Credentials) -> datetime:
    """Authorise a dashboard reader (bearer token or console session); when their authority ends.

    A permitted bearer token is audited through the batched read audit (``hub.ops.readaudit``),
    so a poll never waits for the audit table; a refusal, and a console session, are audited
    before the answer, as everywhere else.
    """
    ops: OpsHub | None = getattr(request.app.state, "ops", None)
    if credentials is None or ops is None:
        return (await _reader_check(request, credentials)).expires_at
    try:
        principal, decision = _verified(ops, credentials.credentials, request.app.state.token_policy)
    except TokenRefused:
        return (await _require_reader(request, credentials)).expires_at  # audits the refusal and raises
    if not decision.permitted:
        return (await _require_reader(request, credentials)).expires_at  # audits the refusal and raises
    source = request_source(request, {})
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    why = [f"request_id={request_id}"] if request_id else []
    why += [f"token_id={principal.token_id}"] if principal.token_id else []
    why += [f"roles={','.join(sorted(principal.roles))}", decision.explanation]
    ops.read_audit.add(
        AuditEntry(
            kind="api.authz",
            outcome="permit",
            actor=principal.subject,
            reason_code=decision.reason_code,
            source=source,
            detail="; ".join(why),
        )
    )
    log.info("api.authz", outcome="permit", actor_fp=subject_fingerprint(principal.subject), source=source)
    return principal.expires_at


Reader = Annotated[datetime, Depends(reader)]


def _ops(request: Request) -> OpsHub:
    ops: OpsHub | None = getattr(request.app.state, "ops", None)
    if ops is None:
        raise Unavailable("ops.not_running", "the dashboard snapshot task is not running")
    return ops


@router.get(
    "/ops/dashboard",
    summary="The ops dashboard's figures (metadata only)",
    responses={200: {"model": Snapshot}, **error_responses(401, 403, 503)},
)
async def dashboard(request: Request, _reader: Reader) -> Response:
    """The snapshot rebuilt each second: flow by contract and agency pair, rejections, latency, lag.

    Never a subject token, a message id, a body or a name. Roles: ops-viewer, hub-operator, auditor.
    """
    return Response(content=_ops(request).encoded, media_type="application/json")


def _frame(data: bytes) -> bytes:
    return b"event: snapshot\ndata: " + data + b"\n\n"


# Not JSON, so not in the OpenAPI document (whose every 2xx is a JSON model): docs/observability.md.
@router.get("/ops/stream", include_in_schema=False)
async def stream(request: Request, until: Reader) -> StreamingResponse:
    """``event: snapshot`` frames (the ``/ops/dashboard`` JSON) each time the snapshot is rebuilt.

    Authorised once at connect; the stream ends after 15 minutes or when the caller's token or
    session ends, whichever is first, and the browser's EventSource reconnects (authorised again).
    """
    ops = _ops(request)
    loop = asyncio.get_running_loop()
    lasts_s = min(float(STREAM_MAX_S), (until - datetime.now(UTC)).total_seconds())
    deadline = loop.time() + max(1.0, lasts_s)

    async def frames() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n" + _frame(ops.encoded)
        seen = ops.generation
        while loop.time() < deadline:
            if await request.is_disconnected():
                return
            await ops.changed(timeout_s=min(KEEPALIVE_S, max(0.0, deadline - loop.time())))
            if ops.generation != seen:
                seen = ops.generation
                yield _frame(ops.encoded)
            else:
                yield b": keep-alive\n\n"

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/metrics", include_in_schema=False)  # Prometheus text, not JSON: docs/observability.md
async def metrics(request: Request, credentials: Credentials) -> Response:
    """Prometheus text exposition; needs a reader's token unless ``ops.metrics_open`` is set.

    Async on purpose: the collector reads the snapshot task's counters on the event loop's thread.
    """
    if not request.app.state.settings.ops.metrics_open:
        await _require_reader(request, credentials)
    hub_metrics: HubMetrics = request.app.state.metrics
    return Response(content=generate_latest(hub_metrics.registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the ops routes, count HTTP requests for ``/metrics`` and apply the tracing switch."""
    app.state.metrics = HubMetrics()
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.metrics)
    app.include_router(router)
    telemetry.instrument(app, settings.telemetry)
