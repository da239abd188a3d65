"""The public referral pages: ``GET/POST /refer`` and the private progress link, no login.

With JavaScript the browser validates and seals the form (``static/refer.js``) and posts only
the sealed blob: the hub checks its shape and key id and passes it on. Without JavaScript the
hub validates the fields in memory, seals them at once with the same format and forgets them.
Either way the hub stores metadata only (``public_referral``) and publishes the sealed form to
the triage desk's intake topic. No form value is ever logged, stored or put in an error body.

Bots: a filled-in honeypot, or a form sent faster than a person could, gets a confirmation
page that looks real (with a made-up reference) while nothing is stored or published, so a bot
learns nothing from the answer. A fill-time token that is missing, does not verify (e.g. signed
under an earlier hub key) or is too old gets the form back asking to send it again, with the
answers kept (without JavaScript) or a "Send again" page (the browser kept them). With
JavaScript, ``refer.js`` swaps the page's token for a fresh one (``GET /refer/token``) just
before sealing, so a page left open for days still goes through. Beyond the per-address rate
limit the answer is a 429 page.

A referral is stored (metadata row and ``intake.received`` audit) before it is published; if
publishing fails, the row is deleted again, ``intake.publish_failed`` audited and the person
told to try again, so no referral exists at the hub that triage never got, or the reverse.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from hub.intake import form as fields
from hub.intake import service
from hub.intake.enums import ReferralStatus
from hub.intake.publisher import IntakePublisher, PublicSubmission
from hub.intake.spam import HONEYPOT_FIELD, TIMER_FIELD, FillCheck, FillTimer
from onedoor import govuk
from onedoor.db import transaction
from onedoor.envelope.intake import parse_sealed, seal_form
from onedoor.envelope.intake_form import (
    CONCERN_LABELS,
    PARENT_KNOWS_LABELS,
    RELATIONSHIP_LABELS,
    SUMMARY_MAX,
    URGENCY_LABELS,
)
from onedoor.errors import Conflict, OneDoorError, Unavailable, ValidationFailed
from onedoor.logging import get_logger
from onedoor.ratelimit import SlidingWindowLimiter
from onedoor.settings import Settings
from onedoor.topics import TopicNames

log = get_logger(__name__)

HERE: Final = Path(__file__).parent
STATIC_PATH: Final = "/refer/static"
SEALED_FIELD: Final = "sealed"
PROGRESS_FIELD: Final = "progress-link"
MAX_FIELDS: Final = 100

router = APIRouter(include_in_schema=False)


@dataclass
class IntakePages:
    """What the pages need at run time (``app.state.intake``)."""

    settings: Settings
    env: Environment
    timer: FillTimer
    limiter: SlidingWindowLimiter
    publisher: IntakePublisher | None = None
    """Set by the lifespan when a broker is configured; without one the form is unavailable."""
    assets_missing: Unavailable | None = None
    """Set when ``make assets`` was not run: the pages answer with it (``web.assets_missing``)."""


def _pages(request: Request) -> IntakePages:
    pages: IntakePages = request.app.state.intake
    if pages.assets_missing is not None:
        raise pages.assets_missing  # rendered as {code: web.assets_missing, message: "... run `make assets`"}
    return pages


def _factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    nonce = govuk.csp_nonce()
    html = _pages(request).env.get_template(template).render(csp_nonce=nonce, **context)
    # no-store, no Referer (the progress link's token must not leak), no framing, strict CSP.
    return HTMLResponse(html, status_code=status, headers=govuk.secure_headers(nonce))


def _message(request: Request, status: int, title: str, *paragraphs: str) -> HTMLResponse:
    return _render(request, "intake/message.html", status, page_title=title, paragraphs=paragraphs)


def _unavailable(request: Request, status: int) -> HTMLResponse:
    return _message(
        request,
        status,
        "The form is not available right now",
        "You cannot send a referral online at the moment. Try again later.",
        "If you are worried about a child, call the police on 101 or your local council's children's services.",
    )


def _form(
    request: Request, outcome: fields.FormOutcome | None = None, status: int = 200, notice: str | None = None
) -> HTMLResponse:
    pages = _pages(request)
    errors = list(outcome.errors) if outcome else []
    if notice:
        errors.insert(0, fields.FieldError("relationship", notice))
    values = outcome.values if outcome else {}

    def error_for(name: str) -> str | None:
        return next((e.message for e in errors if e.field == name and e.message != notice), None)

    def error_message(name: str) -> dict[str, str] | bool:
        text = error_for(name)
        return {"text": text} if text else False

    def radio_items(labels: Mapping[Any, str], selected: object) -> list[dict[str, Any]]:
        return [{"value": str(k), "text": v, "checked": str(k) == selected} for k, v in labels.items()]

    def check_items(labels: Mapping[Any, str], selected: Sequence[str]) -> list[dict[str, Any]]:
        return [{"value": str(k), "text": v, "checked": str(k) in selected} for k, v in labels.items()]

    return _render(
        request,
        "intake/refer.html",
        status,
        page_title="Tell us you are worried about a child",
        error_count=len(errors),
        errors=errors,
        error_list=[{"text": e.message, "href": f"#{e.field}"} for e in errors],
        error_for=error_for,
        error_message=error_message,
        radio_items=radio_items,
        check_items=check_items,
        values=values,
        form_token=pages.timer.issue(time.time()),
        rules=fields.rules(),
        relationships=RELATIONSHIP_LABELS,
        concerns=CONCERN_LABELS,
        urgencies=URGENCY_LABELS,
        parent_knows=PARENT_KNOWS_LABELS,
        summary_max=SUMMARY_MAX,
        honeypot=HONEYPOT_FIELD,
        timer_field=TIMER_FIELD,
        scripts=[f"{STATIC_PATH}/refer.js"],
    )


def _desk(request: Request) -> service.TriageDesk:
    with _factory(request)() as session:
        return service.triage_desk(session)


@router.get("/refer", response_class=HTMLResponse)
async def refer_page(request: Request) -> HTMLResponse:
    """The start page and the form, in one."""
    try:
        await run_in_threadpool(_desk, request)
    except Conflict:
        return _unavailable(request, 409)
    if _pages(request).publisher is None:
        return _unavailable(request, 503)
    return _form(request)


async def _body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _decoy(request: Request, why: str) -> HTMLResponse:
    # Looks exactly like success, so a bot cannot tell; nothing is stored or published.
    log.info("intake.spam_suspected", why=why)
    return _render(
        request,
        "intake/confirmation.html",
        page_title="Referral sent",
        reference=service.new_reference(),
        progress_token=None,
    )


Posted = dict[str, list[str]]


async def _read(request: Request, pages: IntakePages, now: float) -> Posted | HTMLResponse:
    """The posted fields, or the page refusing them (rate limit, size, encoding)."""
    limits = pages.settings.intake
    client = request.client.host if request.client else "unknown"
    if not pages.limiter.allow(client, now):
        log.info("intake.rate_limited")
        return _message(
            request,
            429,
            "You have sent too many forms",
            "Wait a minute, then try again.",
            "If a child is in immediate danger, call 999.",
        )
    raw = await _body(request, limits.max_request_bytes)
    if raw is None:
        log.info("intake.too_large", limit=limits.max_request_bytes)
        return _message(
            request, 413, "Your form is too long to send", "Go back and shorten what you wrote, then send it again."
        )
    try:
        posted = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return _message(request, 400, "Sorry, there is a problem with the form", "Go back and try again.")
    if any(len(v) > fields.MAX_FIELD_CHARS for vs in posted.values() for v in vs):
        return _message(request, 413, "Your form is too long to send", "Go back and shorten what you wrote.")
    return posted


def _screen(request: Request, pages: IntakePages, posted: Posted, now: float) -> HTMLResponse | None:
    """The decoy for a bot, the form again for a page left open too long, else ``None``."""
    if any(v.strip() for v in posted.get(HONEYPOT_FIELD, [])):
        return _decoy(request, "honeypot")
    limits = pages.settings.intake
    token = (posted.get(TIMER_FIELD) or [""])[0]
    check = pages.timer.check(token, now, min_seconds=limits.min_fill_seconds, max_seconds=limits.max_fill_seconds)
    if check is FillCheck.TOO_FAST:
        return _decoy(request, check.value)
    if check in (FillCheck.INVALID, FillCheck.EXPIRED):
        # A real person's page may have been open for days, or served before the hub's key changed.
        log.info("intake.send_again", why=check.value)
        if (posted.get(SEALED_FIELD) or [""])[0]:
            # Sealed in the browser: the hub cannot fill the answers in again, the browser still has them.
            return _message(
                request,
                400,
                "Your form timed out",
                "Nothing has been sent yet. Go back to the form: your answers are still there. Then select Send again.",
            )
        outcome = fields.parse(posted, datetime.now(UTC).date())
        notice = "This page was open for a long time. Check your answers and send the form again"
        return _form(request, outcome, 400, notice=notice)
    return None


def _sealed(request: Request, desk: service.TriageDesk, posted: Posted) -> str | HTMLResponse:
    """The sealed form: checked for shape if the browser sealed it, else validated and sealed here."""
    sealed_in = (posted.get(SEALED_FIELD) or [""])[0]
    if sealed_in:
        try:
            sealed = parse_sealed(sealed_in)
        except ValidationFailed as exc:
            log.info("intake.sealed_refused", code=exc.code)
            return _message(request, 400, "Sorry, your form could not be sent", "Go back and try again.")
        if sealed.kid != desk.key_id:
            log.info("intake.sealed_refused", code="intake.key_unknown")
            return _form(request, None, 400, notice="The form could not be sent securely. Fill it in and send it again")
        return sealed_in
    outcome = fields.parse(posted, datetime.now(UTC).date())
    if outcome.form is None:
        # Which fields, never what was in them.
        log.info("intake.form_invalid", fields=sorted({e.field for e in outcome.errors}))
        return _form(request, outcome, 400)
    return seal_form(desk.public_key, outcome.form.model_dump_json().encode("utf-8"))


@router.post("/refer", response_class=HTMLResponse)
async def refer_submit(request: Request) -> HTMLResponse:
    """Check, seal (without JavaScript), publish to the triage desk and confirm with a reference."""
    pages = _pages(request)
    now = time.time()
    posted = await _read(request, pages, now)
    if isinstance(posted, HTMLResponse):
        return posted
    refused = _screen(request, pages, posted, now)
    if refused is not None:
        return refused
    try:
        desk = await run_in_threadpool(_desk, request)
    except Conflict:
        return _unavailable(request, 409)
    if pages.publisher is None:
        return _unavailable(request, 503)
    sealed = _sealed(request, desk, posted)
    if isinstance(sealed, HTMLResponse):
        return sealed
    wants_link = (posted.get(PROGRESS_FIELD) or [""])[0] == "yes"
    del posted  # the plaintext goes no further than this function
    return await _accept(request, pages, desk, sealed, wants_link)


async def _accept(
    request: Request, pages: IntakePages, desk: service.TriageDesk, sealed: str, wants_link: bool
) -> HTMLResponse:
    publisher = pages.publisher
    assert publisher is not None  # noqa: S101 - checked by the caller
    reference = service.new_reference()
    received_at = datetime.now(UTC)
    token, digest = service.new_status_token() if wants_link else (None, None)

    def store() -> None:
        with transaction(_factory(request)) as session:
            service.record_received(session, desk, reference, received_at, digest)

    def withdraw(why: str) -> None:
        with transaction(_factory(request)) as session:
            service.record_publish_failed(session, desk, reference, datetime.now(UTC), why)

    # Stored first: a referral triage gets always has its row and audit entry (and progress link).
    try:
        await run_in_threadpool(store)
    except Exception as exc:  # noqa: BLE001 - nothing was published; the person is asked to try again
        log.error("intake.store_failed", reference=reference, error=type(exc).__name__)  # noqa: TRY400 - no traceback: its frames hold the request
        return _unavailable(request, 503)
    try:
        await publisher.publish(desk.agency, PublicSubmission(reference, received_at, desk.key_id, sealed))
    except OneDoorError as failed:
        try:
            await run_in_threadpool(withdraw, failed.code)
        except Exception as exc:  # noqa: BLE001 - the row stays "received"; nobody holds its link
            log.error("intake.withdraw_failed", reference=reference, error=type(exc).__name__)  # noqa: TRY400 - no traceback
        return _unavailable(request, 503)
    log.info("intake.received", reference=reference, agency=str(desk.agency), progress_link=token is not None)
    return _render(
        request, "intake/confirmation.html", page_title="Referral sent", reference=reference, progress_token=token
    )


@router.get("/refer/token")
async def fresh_token(request: Request, previous: str = "") -> JSONResponse:
    """A fill-time token for ``refer.js`` to send instead of the page's, fetched just before sealing.

    ``previous`` is the page's own token. If it verifies and the page has been open at least the
    minimum fill time, the new token counts as served that long ago, so it passes at once (a page
    open for days still goes through). Otherwise (too soon, or signed before a key change) it is
    a new token and ``wait_s`` says how long before it will pass: a bot gains nothing over
    loading the page again.
    """
    pages = _pages(request)
    limits = pages.settings.intake
    now = time.time()
    check = pages.timer.check(previous, now, min_seconds=limits.min_fill_seconds, max_seconds=limits.max_fill_seconds)
    if check in (FillCheck.OK, FillCheck.EXPIRED):
        token, wait_s = pages.timer.issue(now - limits.min_fill_seconds), 0.0
    elif check is FillCheck.TOO_FAST:
        served_ms = int(previous.partition(".")[0])
        token, wait_s = previous, max(0.0, served_ms / 1000 + limits.min_fill_seconds - now)
    else:
        token, wait_s = pages.timer.issue(now), float(limits.min_fill_seconds)
    return JSONResponse({"token": token, "wait_s": round(wait_s, 3)}, headers=govuk.secure_headers())


@router.get("/refer/progress/{token}", response_class=HTMLResponse)
async def progress_page(request: Request, token: str) -> HTMLResponse:
    """Received, being handled or closed, and since when: nothing else."""

    def read() -> tuple[ReferralStatus, datetime] | None:
        with _factory(request)() as session:
            referral = service.by_token(session, token)
            return None if referral is None else (referral.status, referral.status_updated_at)

    found = await run_in_threadpool(read)
    if found is None:
        return _message(
            request, 404, "This link does not work", "Check you copied the whole link from your confirmation page."
        )
    status, since = found
    return _render(
        request, "intake/progress.html", page_title="Progress of your referral", status_label=status.label, since=since
    )


def install(app: FastAPI, settings: Settings, hub_key_private: bytes, *, assets_dir: Path | None = None) -> None:
    """Mount the pages, their script and the GOV.UK assets on ``app`` (``app.state.intake``).

    Without the GOV.UK assets (``make assets`` not run) the rest of the hub works and the pages
    answer 503 ``web.assets_missing``.
    """
    env = govuk.environment([HERE / "templates"])
    timer_key = _timer_key(hub_key_private)
    limiter = SlidingWindowLimiter(settings.intake.rate_per_minute, 60.0)
    pages = IntakePages(settings, env, FillTimer(timer_key), limiter)
    app.state.intake = pages
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="intake-static")
    try:
        govuk.mount_assets(app, assets_dir or govuk.STATIC_DIR)
    except Unavailable as missing:
        log.warning("web.assets_missing", why=missing.message)
        pages.assets_missing = missing


def _timer_key(secret: bytes) -> bytes:
    # A key of its own, derived from the hub key, so form tokens survive a restart of the hub.
    return hashlib.sha256(b"onedoor/v1/intake-timer-key:" + secret).digest()


@asynccontextmanager
async def publishing(app: FastAPI, settings: Settings, bootstrap: str | None) -> AsyncIterator[None]:
    """Start the intake publisher for the lifespan when there is a broker (else the form is unavailable)."""
    pages: IntakePages | None = getattr(app.state, "intake", None)
    if pages is None or bootstrap is None:
        if pages is not None:
            log.info("intake.form_off", why="no broker configured")
        yield
        return
    publisher = IntakePublisher(
        bootstrap,
        TopicNames(settings.kafka.topic_prefix),
        replication_factor=settings.kafka.replication_factor,
        credentials=settings.kafka.credentials(),
    )
    await publisher.start()
    pages.publisher = publisher
    try:
        yield
    finally:
        pages.publisher = None
        await asyncio.shield(publisher.stop())
