"""The hub's HTTP API: ``create_app(settings)`` builds it; its lifespan owns the database.

On start the lifespan migrates the database to head, opens the session factory and seeds the
bundled contracts; on stop it disposes of the engine. Every request gets an ``X-Request-ID``
and exactly one log line (method, route template, status, duration), never a body or a token.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.registry.api import router as contracts_router
from contracts.registry.service import seed_bundled
from hub import db
from hub.agencies.api import directory_router
from hub.agencies.api import router as agencies_router
from hub.agreements.api import router as agreements_router
from hub.agreements.service import expire_due
from hub.audit import api as audit_api
from hub.audit import monitor as audit_monitor
from hub.audit import pages as audit_pages
from hub.auth.api import router as auth_router
from hub.auth.deps import require
from hub.auth.issuer import token_policy
from hub.auth.roles import Role
from hub.broker.api import router as broker_router
from hub.broker.reconcile import running as broker_reconciling
from hub.consents.api import router as consents_router
from hub.console import mount as console
from hub.console.admin import agencies as console_agencies
from hub.console.admin import agreements as console_agreements
from hub.console.admin import contracts as console_contracts
from hub.deadletters import api as deadletters_api
from hub.deadletters import ingest as deadletters_ingest
from hub.deadletters import pages as deadletters_pages
from hub.deps import WRITE_ERRORS, FieldProblem, RequestInvalidBody, error_responses
from hub.explain.api import router as explain_router
from hub.fleet.api import router as fleet_router
from hub.health.api import router as health_router
from hub.intake import pages as intake_pages
from hub.intake.api import router as intake_router
from hub.network.api import router as network_router
from hub.ops import api as ops_api
from hub.ops import snapshot as ops_snapshot
from hub.policy.api import router as policy_router
from hub.policy.bus import PolicyAnnouncer
from hub.policy.changes import announce_commits
from hub.transfers.api import router as transfers_router
from onedoor.db import transaction
from onedoor.envelope.keys import HubKey
from onedoor.errors import Unauthenticated
from onedoor.logging import get_logger
from onedoor.periodic import every
from onedoor.settings import Settings
from onedoor.topics import TopicNames
from onedoor.web import ErrorBody, install_error_handlers

log = get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A caller's request id is reused only if it is short and plain, so it cannot forge log lines.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

DESCRIPTION = """\
The OneDoor hub routes signed, end-to-end-encrypted envelopes between safeguarding agencies.
This API manages what the router trusts: the **agency registry** (who may send and receive,
and their *public* keys), the **data contracts** envelopes must follow, and the
**information-sharing agreements** between agencies, approved by an admin of every party.

The hub never holds a private key, a message body or case data. Reads are open, except
agreements. Writes, and agreement reads, need a bearer JWT (EdDSA or ES256) from the hub's
issuer whose `roles` permit them: `hub-operator` for the registry and contracts, `agency-admin`
for its own agency's keys and the agreements it is a party to, `auditor` to read agreements
(`ops-viewer` sees flow metadata only, never an agreement). Every authorization decision,
permit or deny, is audited. Errors always have the body `{code, message, error_id}` with a
stable `code`; a 403 is the same whether or not the target exists.
"""

TAGS = [
    {"name": "agencies", "description": "Register agencies, suspend them, rotate and revoke their public keys."},
    {
        "name": "directory",
        "description": "The public keys of every active agency: what connectors encrypt to and verify with.",
    },
    {
        "name": "agreements",
        "description": "Information-sharing agreements: propose, approve by every party agency, suspend, revoke.",
    },
    {"name": "explain", "description": "Why a message was delivered or refused, or a request permitted or denied."},
    {
        "name": "consents",
        "description": "A young person's consent, by subject token: given, refused, withdrawn, not sought "
        "(with a ground), and reviewed, time-boxed emergency overrides.",
    },
    {
        "name": "network",
        "description": "A child's professional network: which agencies have an open case on a subject token "
        "(agency ids only, never a name).",
    },
    {"name": "transfers", "description": "Case transfer between areas: offer, accept (the network moves), withdraw."},
    {"name": "contracts", "description": "Data contracts (schemas and rules) that envelopes must conform to."},
    {"name": "policy", "description": "What connectors decide sharing with: agreements, agency kinds, contract tags."},
    {
        "name": "intake",
        "description": "Public referrals (the form at /refer): the triage desk's intake key and progress reports.",
    },
    {"name": "health", "description": "Liveness and readiness probes."},
    {"name": "auth", "description": "Check a bearer token against this hub."},
]


def _version() -> str:
    try:
        return version("onedoor")
    except PackageNotFoundError:
        return "0.0.0"


def _path_fp(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:12]


class RequestContextMiddleware:
    """Bind ``request_id`` for the request's log lines, echo it back, log one line at the end."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = given if _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                # The route template, not the path: one series per endpoint, no ids in the label.
                route = getattr(scope.get("route"), "path", None)
                # No route: a fingerprint of the path, which may hold a token typed into a wrong URL.
                where = {"route": route} if route else {"route": None, "path_fp": _path_fp(scope["path"])}
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                log.info("http.request", method=scope["method"], **where, status=status, duration_ms=duration_ms)


def _error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


def _install_handlers(app: FastAPI) -> None:
    install_error_handlers(app)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_request: Request, exc: Unauthenticated) -> JSONResponse:
        error_id = uuid.uuid4().hex
        log.info("request.error", code=exc.code, error_id=error_id, status=exc.http_status)
        body = ErrorBody(code=exc.code, message=exc.message, error_id=error_id)
        # RFC 6750: a token was presented but refused, as opposed to none at all.
        challenge = "Bearer" if exc.code == "auth.missing_token" else 'Bearer error="invalid_token"'
        return _error_response(exc.http_status, body, {"WWW-Authenticate": challenge})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Location, type and pydantic's sentence only: the submitted value is never echoed.
        problems = [
            FieldProblem(location=".".join(str(p) for p in e["loc"]), code=e["type"], message=e["msg"])
            for e in exc.errors()
        ]
        codes = {p.code for p in problems}
        shared = next(iter(codes)) if len(codes) == 1 else ""
        code = shared if "." in shared else "request.invalid"
        error_id = uuid.uuid4().hex
        log.info("request.error", code=code, error_id=error_id, status=422, fields=[p.location for p in problems])
        message = "invalid request: " + ", ".join(p.location for p in problems)
        body = RequestInvalidBody(code=code, message=message, error_id=error_id, fields=problems)
        return _error_response(422, body)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex
        # A plain traceback, not exc_info: rich console renderers print every frame's locals,
        # and those include the request with its Authorization header.
        trace = "".join(traceback.format_exception(exc))
        log.error("request.failed", error_id=error_id, error=type(exc).__name__, traceback=trace)
        body = ErrorBody(code="hub.internal_error", message="unexpected failure", error_id=error_id)
        request_id = getattr(request.state, "request_id", None)
        return _error_response(500, body, {REQUEST_ID_HEADER: request_id} if request_id else None)


def _seed(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        seed_bundled(session)


@asynccontextmanager
async def _announcing(settings: Settings, factory: sessionmaker[Session], bootstrap: str | None) -> AsyncIterator[None]:
    if bootstrap is None:
        log.info("hub.policy_push_off", why="no broker configured; routers reload at their refresh interval")
        yield
        return
    names = TopicNames(settings.kafka.topic_prefix)  # the policy and the registry topic
    announcer = PolicyAnnouncer(
        bootstrap, names, replication_factor=settings.kafka.replication_factor, credentials=settings.kafka.credentials()
    )
    await announcer.start()
    announce_commits(factory, announcer.publish)
    try:
        yield
    finally:
        await announcer.stop()


def expire_once(factory: sessionmaker[Session]) -> int:
    """Mark every agreement version past its end as expired (audited and announced); how many."""
    with transaction(factory) as session:
        return len(expire_due(session))


@asynccontextmanager
async def _expiring(factory: sessionmaker[Session], every_s: float) -> AsyncIterator[None]:
    # The engine already refuses an agreement past its end; this keeps the stored state, the
    # audit trail and every party's view of it in step.
    async def tick() -> None:
        expired = await asyncio.to_thread(expire_once, factory)
        if expired:
            log.info("agreement.expired_due", count=expired)

    async with every("agreement-expiry", every_s, tick, failed="agreement.expiry_failed"):
        yield


def _include_guarding_writes(app: FastAPI, router: APIRouter, responses: dict[int | str, dict[str, Any]]) -> None:
    # Another package's router: its reads stay open (connectors fetch schemas), its writes
    # change what the hub routes, so each write route is mounted behind the hub-operator check.
    for route in router.routes:
        writes = isinstance(route, APIRoute) and bool((route.methods or set()) - READ_METHODS)
        app.include_router(
            APIRouter(routes=[route]),
            dependencies=[Depends(require(Role.HUB_OPERATOR))] if writes else None,
            responses={**responses, **error_responses(*WRITE_ERRORS)} if writes else responses,
        )


def create_app(settings: Settings, *, bootstrap: str | None = None) -> FastAPI:
    """The hub's FastAPI application; its lifespan migrates and opens the database.

    With a broker (``bootstrap``, else ``settings.kafka.bootstrap_servers``), every committed
    change to agreements or consent is announced on the policy topic, so routers reload at
    once (``hub.policy``); without one, routers pick changes up at their periodic refresh.

    Raises:
        ValidationFailed: ``settings.auth_key_missing`` (and the like) when tokens could not be
            verified, e.g. in prod without ``ONEDOOR_AUTH__PUBLIC_KEY_PATH``.
    """
    policy = token_policy(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.engine_from_settings(settings)
        try:
            await asyncio.to_thread(db.migrate, settings.database_url)
            factory = db.session_factory(engine)
            app.state.session_factory = factory
            await asyncio.to_thread(_seed, factory)
            async with (
                _announcing(settings, factory, bootstrap or settings.kafka.bootstrap_servers),
                intake_pages.publishing(app, settings, bootstrap or settings.kafka.bootstrap_servers),
                _expiring(factory, settings.api.expiry_check_seconds),
                audit_monitor.running(app, settings, factory),
                deadletters_ingest.ingesting(app, settings, bootstrap or settings.kafka.bootstrap_servers),
                ops_snapshot.running(app, settings, factory, bootstrap or settings.kafka.bootstrap_servers),
                broker_reconciling(app, settings, factory),
            ):
                log.info("hub.api_ready", env=settings.env, backend=engine.dialect.name)
                yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="OneDoor hub",
        version=_version(),
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.token_policy = policy
    app.state.hub_key = HubKey.load_or_create(settings.hub_key_path)
    _install_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    ops_api.install(app, settings)  # /ops/dashboard, /ops/stream, /metrics, tracing switch
    with_input = error_responses(422, 500)
    app.include_router(agencies_router, responses=with_input)
    app.include_router(directory_router, responses=error_responses(500))
    app.include_router(policy_router, responses=error_responses(500))
    app.include_router(agreements_router, responses=with_input)
    app.include_router(consents_router, responses=with_input)
    app.include_router(explain_router, responses=with_input)
    app.include_router(audit_api.router, responses=with_input)
    app.include_router(deadletters_api.router, responses=with_input)
    app.include_router(fleet_router, responses=with_input)
    app.include_router(network_router, responses=with_input)
    app.include_router(transfers_router, responses=with_input)
    app.include_router(broker_router, responses=with_input)
    _include_guarding_writes(app, contracts_router, with_input)
    app.include_router(intake_router, responses=with_input)
    intake_pages.install(app, settings, app.state.hub_key.private.private_bytes_raw())
    console.install(app, settings)  # /console pages; other console routers go next to this line
    app.include_router(deadletters_pages.router)
    app.include_router(audit_pages.router)
    app.include_router(console_agencies.router)
    console_agencies.mount_static(app)
    app.include_router(console_agreements.router)
    app.include_router(console_contracts.router)
    app.include_router(health_router, responses=error_responses(500))
    app.include_router(auth_router, responses=error_responses(500))
    return app
