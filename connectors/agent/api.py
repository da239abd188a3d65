"""The connector's local REST API: status checks for the force's own systems, disclosures and notices for the owner.

``create_app(config, process)`` serves a running ``ConnectorProcess`` (or any object with the
same ``checker``, ``disclosures``, ``notices`` and ``healthy``; tests pass fakes). Every route
but ``/healthz`` needs ``Authorization: Bearer <token>`` (compared in constant time; 401
``connector.unauthenticated`` otherwise). Errors are ``{code, message, error_id}``; a 422 never
echoes what was sent. One log line per request (method, route template, status, duration):
never a body, a name, a date of birth or a token.

Also served: ``POST /referrals`` and ``/triage/referrals...`` (``triage_api``), ``POST /outbound``
(``outbound_api``), ``POST /status/refresh`` (``status_refresh_api``), and the staff workbench at
``/workbench`` (``connectors.workbench.web``; its own sign-in, no bearer token) when the backend has one.
"""

from __future__ import annotations

import hmac
import time
import traceback
import uuid
from typing import Annotated, Final, Protocol

import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.agent import outbound_api, status_refresh_api, triage_api
from connectors.agent.config import ConnectorConfig
from connectors.agent.notices import NoticeBoard
from connectors.agent.schemas import (
    DisclosuresOut,
    HealthOut,
    NoticeOut,
    NoticesOut,
    StatusCheckIn,
    StatusCheckOut,
)
from connectors.identity import Identifiers
from connectors.outbox.service import health_details
from connectors.status import Disclosure, StatusAnswer
from connectors.workbench import web as workbench_web
from onedoor.errors import Unauthenticated
from onedoor.logging import get_logger
from onedoor.web import ErrorBody, install_error_handlers

log = get_logger(__name__)

UNAUTHENTICATED: Final = "connector.unauthenticated"
REQUEST_ID_HEADER: Final = "X-Request-ID"


class Checker(Protocol):
    """What the API asks with (``connectors.status.StatusChecker``)."""

    async def check(
        self, identifiers: Identifiers, *, soft_deadline_s: float = ..., hard_deadline_s: float = ...
    ) -> StatusAnswer:
        """Ask the agencies that may answer; the answer by the soft deadline."""
        ...


class Disclosures(Protocol):
    """Where disclosures are listed (``connectors.status.DisclosureLog``)."""

    def for_record(self, record_ref: str) -> list[Disclosure]:
        """Every disclosure of one record, oldest first."""
        ...


class Backend(Protocol):
    """What the API serves (``connectors.agent.runtime.ConnectorProcess``)."""

    @property
    def checker(self) -> Checker:
        """Asks."""
        ...

    @property
    def disclosures(self) -> Disclosures:
        """The disclosure log."""
        ...

    @property
    def notices(self) -> NoticeBoard:
        """Recent owner notices."""
        ...

    @property
    def healthy(self) -> bool:
        """Whether the inbox is still read."""
        ...


def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def _config(request: Request) -> ConnectorConfig:
    config: ConnectorConfig = request.app.state.config
    return config


def _authorized(request: Request) -> None:
    expected: bytes = request.app.state.api_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest: how long a wrong token took to refuse says nothing about the right one.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise Unauthenticated(UNAUTHENTICATED, "send the connector's API token as `Authorization: Bearer <token>`")


CurrentBackend = Annotated[Backend, Depends(_backend)]
Config = Annotated[ConnectorConfig, Depends(_config)]

_ERRORS: Final[dict[int | str, dict[str, object]]] = {
    401: {"model": ErrorBody, "description": "No bearer token, or not the connector's (`connector.unauthenticated`)."},
    422: {"model": ErrorBody, "description": "Bad input (`identity.*`, `request.invalid`); never echoes a value."},
    500: {"model": ErrorBody, "description": "Unexpected failure; quote `error_id`."},
}

router = APIRouter(dependencies=[Depends(_authorized)], responses=_ERRORS)


@router.post("/status-checks", tags=["status"])
async def status_check(body: StatusCheckIn, backend: CurrentBackend, config: Config) -> StatusCheckOut:
    """Ask every agency whose agreement lets it answer: is this young person known to you, and how?

    Names and the date of birth never leave the connector: the check carries keyed identity
    tokens. The answer comes by the soft deadline; agencies that did not answer by then are
    listed in ``not_answered``. ``found: false`` is "no record found", not an error.
    """
    identifiers = Identifiers.parse(
        body.given_name or "", body.family_name or "", body.date_of_birth or "", body.postcode
    )
    deadlines = config.deadlines
    answer = await backend.checker.check(
        identifiers, soft_deadline_s=deadlines.soft_seconds, hard_deadline_s=deadlines.hard_seconds
    )
    return StatusCheckOut.of(answer)


@router.get("/disclosures/{record_ref}", tags=["owner"])
async def disclosures(
    record_ref: Annotated[str, Path(min_length=1, max_length=200)], backend: CurrentBackend
) -> DisclosuresOut:
    """Who was told about one of this agency's records, when and why: for a subject access request."""
    # On the event loop thread on purpose: the SQLite connection belongs to this thread.
    return DisclosuresOut.of(record_ref, backend.disclosures.for_record(record_ref))


@router.get("/notifications", tags=["owner"])
async def notifications(backend: CurrentBackend, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> NoticesOut:
    """Recent owner notices, newest first: "record X was checked by Y for Z at T"."""
    return NoticesOut(notifications=[NoticeOut.of(n) for n in backend.notices.recent(limit)])


health = APIRouter()


@health.get("/healthz", tags=["health"], responses={503: {"model": HealthOut}})
async def healthz(backend: CurrentBackend) -> JSONResponse:
    """Liveness, without a token: ``ok`` while the connector reads its inbox (and, for a triage desk,
    while the hub seals public referrals to its intake key); else 503 with the problems' codes."""
    details = await health_details(backend)  # outbox pending, parked messages: counts only
    if backend.healthy:
        return JSONResponse({"status": "ok", **details})
    problems = getattr(backend, "problems", None)
    body: dict[str, object] = {"status": "unavailable", **details}
    if isinstance(problems, list) and problems:
        body["problems"] = [str(p) for p in problems]
    return JSONResponse(body, status_code=503)


class RequestLog:
    """Give each request an id (echoed as ``X-Request-ID``) and log one line when it ends, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER.lower().encode(), request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                # The route template, never the path: a path may hold a record reference.
                route = getattr(scope.get("route"), "path", None) or "<unmatched>"
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                log.info("http.request", method=scope["method"], route=route, status=status, duration_ms=duration_ms)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    error_id = uuid.uuid4().hex
    log.info("request.error", code=code, error_id=error_id, status=status)
    body = ErrorBody(code=code, message=message, error_id=error_id)
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


def _install_handlers(app: FastAPI) -> None:
    install_error_handlers(app)  # every OneDoorError: its code, sentence and HTTP status

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_request: Request, exc: Unauthenticated) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Where and what kind of problem only: the submitted value is never echoed or logged.
        where = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        return _error(422, "request.invalid", "invalid request: " + ", ".join(where))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex
        # A plain traceback: frame locals (the identifiers, the token) are never printed.
        trace = "".join(traceback.format_exception(exc))
        log.error("request.failed", error_id=error_id, error=type(exc).__name__, traceback=trace)
        body = ErrorBody(code="connector.internal_error", message="unexpected failure", error_id=error_id)
        return JSONResponse(status_code=500, content=body.model_dump())


def create_app(config: ConnectorConfig, backend: Backend) -> FastAPI:
    """The REST API of one running connector (``backend``), guarded by ``config``'s API token.

    Raises:
        ValidationFailed: ``connector.token_file`` when the token file cannot be used.
    """
    app = FastAPI(
        title=f"OneDoor connector: {config.agency}",
        description=__doc__,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.config = config
    app.state.backend = backend
    app.state.api_token = config.api_token().encode()
    _install_handlers(app)
    app.add_middleware(RequestLog)
    app.include_router(router)
    app.include_router(triage_api.router, dependencies=[Depends(_authorized)], responses=_ERRORS)
    app.include_router(outbound_api.router, dependencies=[Depends(_authorized)], responses=_ERRORS)
    app.include_router(status_refresh_api.router, dependencies=[Depends(_authorized)], responses=_ERRORS)
    app.include_router(health)
    workbench = getattr(backend, "workbench", None)
    if workbench is not None:
        # Staff sign in with their own accounts: the workbench has no bearer token.
        workbench_web.mount(app, workbench)
    return app
