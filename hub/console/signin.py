"""The console's sign-in and sign-out pages: paste a hub token, get a session.

The token is checked with the hub's token policy (``app.state.token_policy``), exactly as a
bearer token on the API is; it is never stored or logged, only the session made from it. The
sign-in form carries a double-submit CSRF token (a signed nonce in a cookie), failed attempts
are limited per client address, and every attempt is audited (``console.sign_in``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from hub.auth.tokens import Principal, TokenPolicy, TokenRefused, verify
from hub.console import sessions
from hub.console.sessions import LiveSession
from hub.console.shell import (
    CSRF_FAILED,
    PREFIX,
    SIGN_IN,
    SIGN_IN_PATH,
    SIGN_OUT,
    SIGNIN_COOKIE,
    audit,
    clear_session_cookie,
    console_state,
    current_session,
    db_factory,
    home_for,
    problem,
    redirect,
    render,
    set_session_cookie,
    user_of,
)
from onedoor.db import transaction
from onedoor.logging import get_logger
from onedoor.websession import same_token

log = get_logger(__name__)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

SIGN_IN_LIMITED: Final = "console.sign_in_limited"
MAX_NEXT_CHARS: Final = 512
MAX_TOKEN_FIELD: Final = 16_384
_REFUSALS: Final = {
    "auth.missing_token": "Enter your hub access token",
    "auth.malformed_token": "This is not a whole hub access token: paste all three parts, separated by dots",
    "auth.algorithm_not_allowed": "This token is not signed the way hub tokens are. Get a token from the hub's issuer",
    "auth.bad_signature": "This token was not issued by an issuer this hub trusts",
    "auth.missing_claim": "This token is missing something the hub needs (such as your roles). Get a new token",
    "auth.wrong_issuer": "This token was not issued by an issuer this hub trusts",
    "auth.wrong_audience": "This token is for another service, not this hub",
    "auth.expired": "This token has expired. Get a new one and sign in again",
    "auth.not_yet_valid": "This token is not valid yet. Check your computer's clock, or wait a minute",
    "auth.unknown_role": "This token carries a role the hub does not know",
}


def safe_next(raw: str | None) -> str | None:
    """``raw`` if it is a path inside the console (no scheme, host, dot segment or backslash), else ``None``."""
    if not raw or len(raw) > MAX_NEXT_CHARS or "\\" in raw or any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return None
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or raw.startswith("//"):
        return None
    path = parts.path
    if not (path == PREFIX or path.startswith(PREFIX + "/")):
        return None
    if any(segment in {".", ".."} for segment in path.split("/")) or "%2e" in path.lower() or "%2f" in path.lower():
        return None
    if path in (SIGN_IN_PATH, f"{PREFIX}/sign-out"):
        return None
    return raw


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _address_fp(request: Request) -> str:
    return hashlib.sha256(b"console-address:" + _address(request).encode()).hexdigest()[:16]


def _form(
    request: Request, *, status: int = 200, error: str | None = None, next_path: str | None = None
) -> HTMLResponse:
    state = console_state(request)
    nonce, token = state.presession.issue()
    response = render(
        request,
        None,
        "console/sign_in.html",
        status=status,
        page_title="Sign in",
        csrf_token=token,
        error=error,
        error_count=1 if error else 0,
        next=next_path or "",
    )
    response.set_cookie(
        SIGNIN_COOKIE, nonce, max_age=1800, path=PREFIX, httponly=True, samesite="strict", secure=state.secure_cookie
    )
    return response


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    """The sign-in form (or, already signed in, straight on to ``next``)."""
    next_path = safe_next(request.query_params.get("next"))
    live = await current_session(request)
    if live is not None:
        return redirect(next_path or home_for(request, user_of(live)))
    return _form(request, next_path=next_path)


def _start(request: Request, principal: Principal) -> tuple[str, LiveSession]:
    now, lifetimes = datetime.now(UTC), console_state(request).lifetimes
    with transaction(db_factory(request)) as db:
        sessions.purge_expired(db, now, lifetimes)  # sign-ins are rare: a good moment to forget dead sessions
        return sessions.start(db, principal, now, lifetimes)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the pasted token and start a session; a clear error on the form otherwise."""
    state = console_state(request)
    form = await request.form(max_files=0, max_fields=10)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    next_path = safe_next(fields.get("next"))
    fp = _address_fp(request)
    if not state.presession.check(request.cookies.get(SIGNIN_COOKIE), fields.get("csrf_token")):
        await audit(request, SIGN_IN, "deny", actor=None, reason_code=CSRF_FAILED, why=f"address_fp={fp}")
        return _form(request, status=400, error="The sign-in form expired. Paste your token again", next_path=next_path)
    key = f"address:{_address(request)}"
    if not state.limiter.allowed(key):
        await audit(request, SIGN_IN, "deny", actor=None, reason_code=SIGN_IN_LIMITED, why=f"address_fp={fp}")
        return _form(
            request, status=429, error="Too many failed sign-ins. Wait 15 minutes, then try again", next_path=next_path
        )
    token = (fields.get("token") or "").strip()[:MAX_TOKEN_FIELD]
    policy: TokenPolicy = request.app.state.token_policy
    try:
        principal = verify(token, policy, datetime.now(UTC))
    except TokenRefused as refused:
        state.limiter.record(key)
        await audit(request, SIGN_IN, "deny", actor=refused.subject, reason_code=refused.code, why=f"address_fp={fp}")
        error = _REFUSALS.get(refused.code, "This token does not sign you in to this hub")
        return _form(request, status=401, error=error, next_path=next_path)
    finally:
        del token  # never kept, never logged
    sid, live = await run_in_threadpool(_start, request, principal)
    roles = ",".join(sorted(principal.roles))
    await audit(request, SIGN_IN, "permit", actor=principal.subject, why=f"roles={roles}; address_fp={fp}")
    user = user_of(live)
    response = redirect(next_path or home_for(request, user))
    set_session_cookie(response, request, sid, int((live.expires_at - datetime.now(UTC)).total_seconds()))
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session (its CSRF token must come with the form)."""
    live = await current_session(request)
    if live is not None:
        form = await request.form(max_files=0, max_fields=10)
        given = form.get("csrf_token")
        if not same_token(given if isinstance(given, str) else None, live.csrf):
            await audit(request, SIGN_OUT, "deny", actor=live.subject, reason_code=CSRF_FAILED)
            user = user_of(live)
            return problem(
                request, user, 400, CSRF_FAILED, "This form has expired. Reload the page and sign out again."
            )

        def end() -> None:
            with transaction(db_factory(request)) as db:
                sessions.end(db, live.id_hash)

        await run_in_threadpool(end)
        await audit(request, SIGN_OUT, "ok", actor=live.subject)
    response = redirect(SIGN_IN_PATH)
    clear_session_cookie(response, request)
    return response
