"""What every console page builds on: who is signed in, the role guard, CSRF, rendering and error pages.

A page is a FastAPI route under ``/console`` that depends on ``console_user(*roles)``: not
signed in, it answers 303 to the sign-in page; signed in without one of ``roles``, the 403
page; every outcome is a ``console.authz`` audit row written before the page runs. Forms post
their ``csrf_token`` back and the route reads them with ``form_with_csrf``. Pages render with
``render`` into ``console/layout.html`` (GOV.UK Frontend, strict CSP: no inline script or
style). A ``OneDoorError`` raised in a console route becomes ``console/problem.html`` with its
code, message and HTTP status. JSON routes that the console's own pages call (``/ops/...``)
take ``console_or_bearer(*roles)``: a bearer token as ``hub.auth.deps.require`` checks it, or
the console session cookie (audited as ``console.authz``). See ``docs/console.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar, cast
from urllib.parse import urlencode

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from hub.audit.service import AuditEntry, append_now
from hub.auth.deps import FORBIDDEN_MESSAGE, ActingFor, Credentials, request_source, require
from hub.auth.policy import FORBIDDEN, authorize
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.console import sessions
from hub.console.sessions import Lifetimes, LiveSession
from onedoor import govuk
from onedoor.db import transaction
from onedoor.errors import Category, Forbidden, OneDoorError, Unauthenticated
from onedoor.ids import AgencyId
from onedoor.logging import get_logger
from onedoor.ratelimit import SlidingWindowLimiter
from onedoor.settings import Settings
from onedoor.websession import PresessionTokens, same_token, sign_in_limiter

log = get_logger(__name__)
T = TypeVar("T")

PREFIX: Final = "/console"
SIGN_IN_PATH: Final = f"{PREFIX}/sign-in"
SIGN_OUT_PATH: Final = f"{PREFIX}/sign-out"
SESSION_COOKIE: Final = "onedoor_console"
SIGNIN_COOKIE: Final = "onedoor_console_signin"
COOKIE_PATHS: Final = (PREFIX, "/ops")
"""Where the browser sends the session cookie: the pages, and the JSON and SSE routes they call."""
STATIC_PATH: Final = f"{PREFIX}/static/shell"
"""The shell's own files (other areas mount theirs at ``/console/static/<area>``)."""
CSRF_HEADER: Final = "X-CSRF-Token"
"""What a script sends its session's CSRF token in, for a cookie-authenticated write to a JSON route."""
HERE: Final = Path(__file__).parent
_SOURCE_MAX = 255
_SAFE_METHODS = frozenset({"GET", "HEAD"})

AUTHZ: Final = "console.authz"
SIGN_IN: Final = "console.sign_in"
SIGN_OUT: Final = "console.sign_out"
NOT_SIGNED_IN: Final = "console.not_signed_in"
FORBIDDEN_PAGE: Final = "console.forbidden"
CSRF_FAILED: Final = "console.csrf_failed"


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """Who is signed in to the console (from the session, copied from the token at sign-in)."""

    subject: str
    """The token's ``sub``; never logged (a fingerprint is)."""
    roles: frozenset[Role]
    agency: AgencyId | None
    """The token's ``agency`` claim (agency-admin)."""
    csrf: str
    """This session's CSRF token."""

    def has(self, *roles: Role) -> bool:
        """Whether the user holds any of ``roles``."""
        return bool(self.roles & set(roles))

    @property
    def fingerprint(self) -> str:
        """A short hash of the subject, for log lines."""
        return hashlib.sha256(self.subject.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the console's navigation."""

    key: str
    text: str
    path: str
    roles: frozenset[Role]


NAV: Final = (
    NavItem("dashboard", "Dashboard", PREFIX, frozenset({Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR})),
    NavItem(
        "dead-letters",
        "Dead letters",
        f"{PREFIX}/dead-letters",
        frozenset({Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR}),
    ),
    NavItem("agencies", "Agencies", f"{PREFIX}/agencies", frozenset(Role)),
    NavItem(
        "agreements",
        "Agreements",
        f"{PREFIX}/agreements",
        frozenset({Role.HUB_OPERATOR, Role.AGENCY_ADMIN, Role.AUDITOR}),
    ),
    NavItem("contracts", "Contracts", f"{PREFIX}/contracts", frozenset(Role)),
    NavItem("audit", "Audit", f"{PREFIX}/audit", frozenset({Role.HUB_OPERATOR, Role.AUDITOR})),
)
"""The console's pages in menu order, and who may open each (``docs/console.md``)."""


class SignInRequired(Unauthenticated):
    """No live console session: the page answers 303 to the sign-in page."""


class CsrfFailed(OneDoorError):
    """A form without this session's CSRF token: nothing was changed."""

    category = Category.SECURITY
    http_status = 400


@dataclass(eq=False, slots=True)
class ConsoleState:
    """What the console needs at run time (``app.state.console``)."""

    env: Environment
    lifetimes: Lifetimes
    secure_cookie: bool
    limiter: SlidingWindowLimiter
    """Failed sign-ins per client address."""
    presession: PresessionTokens
    nav_paths: frozenset[str] | None = None
    """The GET paths the app serves, found at the first render (routes are added after install)."""


_TEMPLATE_DIRS: list[Path] = [HERE / "templates"]


def add_templates(directory: Path) -> None:
    """Put ``directory`` on the console's template loader (call at import of a pages module)."""
    if directory not in _TEMPLATE_DIRS:
        _TEMPLATE_DIRS.append(directory)


def subject_fingerprint(subject: str | None) -> str | None:
    """12 hex characters of the subject's SHA-256, for log lines (the audit row has it whole)."""
    return hashlib.sha256(subject.encode()).hexdigest()[:12] if subject is not None else None


def console_state(request: Request) -> ConsoleState:
    """The console's run-time state (``app.state.console``)."""
    found: ConsoleState = request.app.state.console
    return found


def db_factory(request: Request) -> sessionmaker[Session]:
    """The hub's session factory."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


async def in_session(request: Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` in a worker thread, with a session of its own (for a page's reads)."""

    def run() -> T:
        with db_factory(request)() as session:
            return work(session)

    return await run_in_threadpool(run)


async def in_transaction(request: Request, work: Callable[[Session], object]) -> OneDoorError | None:
    """``work(session)`` in one transaction in a worker thread; a refusal rolls it back and is returned, to show."""

    def run() -> OneDoorError | None:
        try:
            with transaction(db_factory(request)) as session:
                work(session)
        except OneDoorError as exc:
            return exc
        return None

    return await run_in_threadpool(run)


def _environment() -> Environment:
    env = govuk.environment()
    # Every helper's folder first (their names are console/<area>/...), then the OneDoor and GOV.UK ones.
    base = env.loader
    assert isinstance(base, ChoiceLoader)  # noqa: S101 - govuk.environment builds one
    env.loader = ChoiceLoader([_DynamicLoader(), *base.loaders])
    env.filters["when"] = when
    return env


class _DynamicLoader(FileSystemLoader):
    """A file loader over ``_TEMPLATE_DIRS`` as it is at each lookup (pages modules add theirs at import)."""

    def __init__(self) -> None:
        super().__init__([])

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        self.searchpath = [str(d) for d in _TEMPLATE_DIRS]
        return super().get_source(environment, template)

    def list_templates(self) -> list[str]:
        self.searchpath = [str(d) for d in _TEMPLATE_DIRS]
        return super().list_templates()


def when(value: datetime | None) -> str:
    """A time as people read it, in UTC."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%-d %b %Y, %H:%M:%S UTC")


def served_routes(app: FastAPI) -> list[tuple[str, frozenset[str]]]:
    """Every HTTP route ``app`` serves, as ``(path template, methods)``, included routers flattened."""
    found: list[tuple[str, frozenset[str]]] = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.path is not None:
            found.append((context.path, frozenset(context.methods or ())))
    return found


def _nav_paths(request: Request, state: ConsoleState) -> frozenset[str]:
    if state.nav_paths is None:
        state.nav_paths = frozenset(path for path, methods in served_routes(request.app) if "GET" in methods)
    return state.nav_paths


def navigation(request: Request, user: ConsoleUser | None) -> list[NavItem]:
    """The pages ``user`` may open that this hub serves, in menu order."""
    if user is None:
        return []
    served = _nav_paths(request, console_state(request))
    return [item for item in NAV if item.roles & user.roles and item.path in served]


def active_nav_for(path: str) -> str | None:
    """The menu entry a page at ``path`` belongs to: the longest entry path it is under (the dashboard: exactly)."""
    best: NavItem | None = None
    for item in NAV:
        under = path == item.path or (item.path != PREFIX and path.startswith(item.path + "/"))
        if under and (best is None or len(item.path) > len(best.path)):
            best = item
    return best.key if best else None


def home_for(request: Request, user: ConsoleUser) -> str:
    """Where ``user`` lands after sign-in: the first page of the menu they may open."""
    items = navigation(request, user)
    return items[0].path if items else PREFIX


def secure(response: Response, nonce: str | None = None) -> Response:
    """Add the security headers of every OneDoor page (CSP with ``nonce``, no-store, no framing)."""
    response.headers.update(govuk.secure_headers(nonce))
    return response


def redirect(url: str) -> Response:
    """A 303 to ``url`` with the security headers."""
    return secure(RedirectResponse(url, status_code=303))


def render(
    request: Request, user: ConsoleUser | None, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``template`` in the console layout: user, CSRF token, role-aware navigation, CSP nonce."""
    state = console_state(request)
    nonce = govuk.csp_nonce()
    items = navigation(request, user)
    active = context.pop("active_nav", None) or active_nav_for(request.url.path)
    html = state.env.get_template(template).render(
        csp_nonce=nonce,
        service_url=PREFIX,
        user=user,
        csrf_token=user.csrf if user else context.pop("csrf_token", ""),
        nav=[{"href": i.path, "text": i.text, "active": i.key == active} for i in items],
        active_nav=active,
        shell_static=STATIC_PATH,
        sign_out_path=SIGN_OUT_PATH,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=govuk.secure_headers(nonce))


# -- audit -----------------------------------------------------------------------------------


async def audit(
    request: Request,
    kind: str,
    outcome: str,
    *,
    actor: str | None,
    reason_code: str | None = None,
    source: str | None = None,
    why: str = "",
) -> None:
    """Append one console audit row in a transaction of its own, and log it without the subject."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    detail = "; ".join(p for p in (f"request_id={request_id}" if request_id else "", why) if p)
    where = source or f"{request.method} {request.url.path}"[:_SOURCE_MAX]
    entry = AuditEntry(kind=kind, outcome=outcome, actor=actor, reason_code=reason_code, source=where, detail=detail)
    await run_in_threadpool(append_now, db_factory(request), [entry])
    log.info(kind, outcome=outcome, actor_fp=subject_fingerprint(actor), reason_code=reason_code, source=where)


# -- sessions --------------------------------------------------------------------------------


def _resolve_now(request: Request, sid: str | None) -> LiveSession | None:
    with transaction(db_factory(request)) as db:
        return sessions.resolve(db, sid, datetime.now(UTC), console_state(request).lifetimes)


async def current_session(request: Request) -> LiveSession | None:
    """The live session of this request's cookie, if any (its last use updated)."""
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    return await run_in_threadpool(_resolve_now, request, sid)


def user_of(live: LiveSession) -> ConsoleUser:
    """The signed-in user of a live session."""
    return ConsoleUser(subject=live.subject, roles=live.roles, agency=live.agency, csrf=live.csrf)


async def signed_in_user(request: Request) -> ConsoleUser | None:
    """Who is signed in on this request (no role check, no audit), or ``None``."""
    live = await current_session(request)
    return None if live is None else user_of(live)


def set_session_cookie(response: Response, request: Request, sid: str, max_age_s: int) -> None:
    """Send the session cookie for every path that needs it (HttpOnly, SameSite=Strict, Secure)."""
    for path in COOKIE_PATHS:
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            max_age=max(0, max_age_s),
            path=path,
            httponly=True,
            samesite="strict",
            secure=console_state(request).secure_cookie,
        )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Tell the browser to forget the session cookie on every path."""
    for path in COOKIE_PATHS:
        response.delete_cookie(
            SESSION_COOKIE, path=path, httponly=True, samesite="strict", secure=console_state(request).secure_cookie
        )


# -- the guard ----------------------------------------------------------------------------------


def console_user(*allowed: Role) -> Callable[[Request], Awaitable[ConsoleUser]]:
    """A dependency admitting a signed-in user holding one of ``allowed`` (anyone signed in if none).

    Not signed in: 303 to the sign-in page (``next`` = this page). Without an allowed role: the
    403 page. Every outcome is audited (``console.authz``) before the page runs.
    """
    wanted = frozenset(allowed)

    async def check(request: Request) -> ConsoleUser:
        live = await current_session(request)
        if live is None:
            await audit(request, AUTHZ, "deny", actor=None, reason_code=NOT_SIGNED_IN, why="no live console session")
            raise SignInRequired(NOT_SIGNED_IN, "sign in to the console to open this page")
        user = user_of(live)
        request.state.console_user = user
        roles = ",".join(sorted(user.roles))
        if wanted and not user.roles & wanted:
            needs = " or ".join(sorted(wanted))
            await audit(
                request,
                AUTHZ,
                "deny",
                actor=user.subject,
                reason_code=FORBIDDEN_PAGE,
                why=f"roles={roles}; needs {needs}",
            )
            raise Forbidden(FORBIDDEN_PAGE, "your role does not give you access to this page")
        held = ", ".join(sorted(user.roles & wanted)) if wanted else "any signed-in user"
        await audit(request, AUTHZ, "permit", actor=user.subject, why=f"roles={roles}; permitted as {held}")
        return user

    return check


async def form_with_csrf(request: Request, user: ConsoleUser) -> dict[str, str]:
    """The posted form's text fields, once its ``csrf_token`` is this session's.

    Raises:
        CsrfFailed: ``console.csrf_failed`` (the 400 page; audited, nothing changed).
    """
    form = await request.form(max_files=0, max_fields=1000)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not same_token(fields.get("csrf_token"), user.csrf):
        await audit(
            request,
            AUTHZ,
            "deny",
            actor=user.subject,
            reason_code=CSRF_FAILED,
            why="form without this session's CSRF token",
        )
        raise CsrfFailed(
            CSRF_FAILED, "This form has expired or did not come from this console. Reload the page and try again."
        )
    fields.pop("csrf_token", None)
    return fields


def _path_agency(request: Request) -> AgencyId | None:
    raw = request.path_params.get("agency_id")
    return AgencyId(raw) if isinstance(raw, str) and AgencyId.pattern.fullmatch(raw) else None


async def console_user_or_none(request: Request, *roles: Role, acting_for: ActingFor | None = None) -> Principal | None:
    """The console session of this request as a ``Principal`` allowed by ``roles``; ``None`` if not signed in.

    Checked with the API's policy (``hub.auth.policy.authorize``: an agency-admin only for the
    ``agency_id`` in the path, or the one ``acting_for`` finds) and audited as ``console.authz``.
    A write (not GET/HEAD) also needs the session's CSRF token in the ``X-CSRF-Token`` header.
    ``expires_at`` is the session's end.

    Raises:
        Forbidden: ``auth.forbidden`` (the API's one 403 body) for a user without an allowed role.
    """
    live = await current_session(request)
    if live is None:
        return None
    source = request_source(request, {})
    if request.method not in _SAFE_METHODS and not same_token(request.headers.get(CSRF_HEADER), live.csrf):
        await audit(
            request, AUTHZ, "deny", actor=live.subject, reason_code=CSRF_FAILED, source=source, why="no CSRF header"
        )
        raise Forbidden(FORBIDDEN, FORBIDDEN_MESSAGE)
    principal = Principal(live.subject, live.roles, live.agency, token_id=None, expires_at=live.expires_at)
    agency = _path_agency(request)
    if agency is None and acting_for is not None and principal.agency is not None:
        agency = await acting_for(request, principal)
    decision = authorize(principal, frozenset(roles), agency)
    why = f"console session; roles={','.join(sorted(live.roles))}; {decision.explanation}"
    outcome = "permit" if decision.permitted else "deny"
    await audit(request, AUTHZ, outcome, actor=live.subject, reason_code=decision.reason_code, source=source, why=why)
    if not decision.permitted:
        raise Forbidden(FORBIDDEN, FORBIDDEN_MESSAGE)
    return principal


def console_or_bearer(
    *roles: Role, agency_in_body: str | None = None, acting_for: ActingFor | None = None
) -> Callable[[Request, Credentials], Awaitable[Principal]]:
    """Like ``hub.auth.deps.require``, also admitting the console's session cookie.

    With an ``Authorization`` header, exactly ``require(*roles, ...)`` (``api.authz``); without
    one, ``console_user_or_none`` (``console.authz``); with neither a header nor a live session,
    401 ``auth.missing_token`` as ``require`` answers.
    """
    bearer = require(*roles, agency_in_body=agency_in_body, acting_for=acting_for)

    async def check(request: Request, credentials: Credentials) -> Principal:
        if credentials is None:
            signed_in = await console_user_or_none(request, *roles, acting_for=acting_for)
            if signed_in is not None:
                return signed_in
        return await bearer(request, credentials)

    return check


# -- error pages --------------------------------------------------------------------------------

_HEADINGS: Final = {
    400: "There is a problem with what was sent",
    401: "Sign in again",
    403: "You cannot open this page",
    404: "Page not found",
    409: "Someone else changed this",
    422: "There is a problem with what you entered",
    429: "Too many attempts",
}


def problem(
    request: Request, user: ConsoleUser | None, status: int, code: str, message: str, *, error_id: str | None = None
) -> HTMLResponse:
    """The console's error page: a heading for ``status``, the message and its stable code."""
    heading = _HEADINGS.get(status, "Sorry, there is a problem with the service")
    return render(
        request,
        user,
        "console/problem.html",
        status=status,
        heading=heading,
        message=message,
        code=code,
        error_id=error_id,
        page_title=heading,
    )


def is_console_page(path: str) -> bool:
    """Whether ``path`` is a console page (its errors are pages, not JSON)."""
    return (path == PREFIX or path.startswith(PREFIX + "/")) and not path.startswith(f"{PREFIX}/static/")


def _sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{SIGN_IN_PATH}?{urlencode({'next': target})}"


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _as_page(previous: Handler) -> Handler:
    # The app's own handler runs first (it logs the error id); a console page gets its body as a page.
    async def handle(request: Request, exc: Exception) -> Response:
        if not is_console_page(request.url.path):
            return await previous(request, exc)
        if isinstance(exc, SignInRequired):
            return redirect(_sign_in_url(request))
        answered = await previous(request, exc)
        try:
            body = json.loads(bytes(answered.body))
        except (ValueError, AttributeError):
            body = {}
        code = str(body.get("code") or "console.error")
        if isinstance(exc, RequestValidationError):
            message = "The address or form of this page is not valid."
        else:
            message = str(body.get("message") or "unexpected failure")
        user: ConsoleUser | None = getattr(request.state, "console_user", None)
        return problem(request, user, answered.status_code, code, message, error_id=body.get("error_id"))

    return handle


def _install_error_pages(app: FastAPI) -> None:
    for kind in (OneDoorError, Unauthenticated, RequestValidationError, Exception):
        previous = app.exception_handlers.get(kind)
        if previous is not None:
            app.exception_handlers[kind] = _as_page(cast(Handler, previous))


# -- installation --------------------------------------------------------------------------------


def secure_cookie(settings: Settings) -> bool:
    """Whether the session cookie is ``Secure``: as configured, else on unless env is dev or test."""
    configured = settings.console.secure_cookie
    return configured if configured is not None else settings.env not in ("dev", "test")


def install(app: FastAPI, settings: Settings, secret: bytes, routers: Iterable[Any] = ()) -> ConsoleState:
    """Set the console up on ``app``: state, error pages, the shell's static files and ``routers``."""
    env = _environment()
    key = hashlib.sha256(b"onedoor/v1/console-signin-key:" + secret).digest()
    state = ConsoleState(
        env=env,
        lifetimes=Lifetimes(
            idle=timedelta(minutes=settings.console.idle_minutes),
            absolute=timedelta(hours=settings.console.absolute_hours),
        ),
        secure_cookie=secure_cookie(settings),
        limiter=sign_in_limiter(),
        presession=PresessionTokens(key, "console-signin"),
    )
    app.state.console = state
    _install_error_pages(app)
    for router in routers:
        app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="console-static")
    return state
