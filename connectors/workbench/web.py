"""The workbench: a small GOV.UK-styled web app in the agency's connector, at ``/workbench``.

For agencies with no case system of their own. Staff sign in (``onedoor connector user
add``); the inbox lists referrals and alerts newest first; a referral's page shows it
decrypted (plaintext exists only inside this connector) and, for a triage desk, the triage
decision form; a young person's alert timeline lists the alerts about one subject token.

Security: the session cookie is signed, HttpOnly, SameSite=Strict and Secure unless configured
off for plain-HTTP development; sessions end after 30 minutes idle or 8 hours; every POST form
carries a CSRF token (403 without it); failed sign-ins are limited per username and per
address; pages are ``no-store`` with a strict Content-Security-Policy. Nothing here talks to
the hub except through the connector (sealed messages) and the desk's progress status.

Password checks (scrypt, ~16 MB each) and every store call run in a worker thread
(``run_in_threadpool``), never on the event loop the connector's inbox pump, intake reader and
alert fan-out share.

Audit: every sign-in (and why one failed), sign-out, refused CSRF token, opening of a referral
or alert, timeline, look at the audit trail and decision attempt is a line in the workbench's
audit trail (``connectors.workbench.audit``), written before the page is returned. Auditors
(role ``auditor``) read it at ``/workbench/audit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool

from connectors.triage.decision import CHILDREN_SERVICES, DecisionKind, TriageInvalid, service_options
from connectors.triage.desk import UNREADABLE, TriageDesk
from connectors.triage.transfers import HANDOVER_KIND, TRANSFER_DONE_KIND, TRANSFER_OFFER_KIND, UNROUTED
from connectors.workbench.audit import (
    AUDIT_VIEWED,
    CSRF_REFUSED,
    DECIDE,
    ITEM_VIEWED,
    NOT_SIGNED_IN,
    NOT_TRIAGE_DESK,
    ROLE_CANNOT_AUDIT,
    ROLE_CANNOT_DECIDE,
    SIGN_IN,
    SIGN_IN_INCOMPLETE,
    SIGN_IN_LIMITED,
    SIGN_OUT,
    TIMELINE_VIEWED,
    AuditTrail,
    Outcome,
)
from connectors.workbench.security import Session, Sessions, same_token
from connectors.workbench.store import Item
from connectors.workbench.users import Staff, StaffMember
from onedoor import govuk
from onedoor.errors import NotFound, OneDoorError
from onedoor.logging import get_logger
from onedoor.ratelimit import SlidingWindowLimiter

log = get_logger(__name__)

PREFIX: Final = "/workbench"
SESSION_COOKIE: Final = "onedoor_wb_session"
SIGNIN_COOKIE: Final = "onedoor_wb_signin"
TEMPLATES: Final = Path(__file__).with_name("templates")
SCRIPT: Final = Path(__file__).with_name("static") / "workbench.js"
AUDIT_PAGE_ROWS: Final = 200
"""How many of the newest audit lines ``/workbench/audit`` shows."""
_UNREADABLE_REASONS: Final = {
    "intake.key_unknown": "It was sealed to an intake key this desk no longer holds",
    "intake.undecryptable": "It does not decrypt with this desk's intake key: altered in transit or corrupt",
    "intake.sealed_malformed": "It is not a sealed public referral form",
    "intake.form_invalid": "It opened, but the form in it is not valid",
    "intake.record_malformed": "The hub's record of it could not be read",
}
_UNREADABLE_ADVICE: Final = (
    "Nothing in it can be shown here. The sealed form is kept in this connector, still encrypted: "
    "if it was sealed to an earlier intake key, ask your administrator to add that key to the "
    "connector's previous intake keys and restart it; the referral then opens here."
)
_KIND_LABELS: Final = {
    UNREADABLE: "Unreadable public referral",
    "alert": "Alert",
    TRANSFER_OFFER_KIND: "Transfer offer",
    HANDOVER_KIND: "Handover pack",
    TRANSFER_DONE_KIND: "Transfer completed",
    UNROUTED: "Unhandled message",
}
_AUDIENCES: Final = {
    "NETWORK_MEMBER": (
        "You work with this young person: your agency stays in their network until you close your own case"
    ),
    "CANDIDATE": "You were offered this case and another agency took it on: there is nothing more to do",
}
_UNROUTED_ADVICE: Final = (
    "This connector received a message of a kind it does not handle, so its content was not kept. "
    "Ask the sending agency what it sent, and your administrator whether this connector should handle it."
)
_URGENCY_TAGS: Final = {
    "IMMEDIATE_RISK": "govuk-tag--red",
    "SAME_DAY": "govuk-tag--orange",
    "WITHIN_3_WORKING_DAYS": "govuk-tag--yellow",
    "ROUTINE": "govuk-tag--grey",
    "IMMEDIATE": "govuk-tag--red",
    "WITHIN_24_HOURS": "govuk-tag--orange",
    "WITHIN_7_DAYS": "govuk-tag--yellow",
    "VERY_HIGH": "govuk-tag--red",
    "HIGH": "govuk-tag--orange",
    "MEDIUM": "govuk-tag--yellow",
    "LOW": "govuk-tag--grey",
}


@dataclass(eq=False, slots=True)
class Workbench:
    """What the workbench pages use; one per connector process."""

    desk: TriageDesk
    staff: Staff
    sessions: Sessions
    limiter: SlidingWindowLimiter
    """Failed sign-ins per username and per address (``security.sign_in_limiter``)."""
    secure_cookies: bool = True

    @property
    def agency_name(self) -> str:
        """The agency's display name."""
        return self.desk.agency_name(self.desk.me)

    @property
    def audit(self) -> AuditTrail:
        """The audit trail (in the desk's store)."""
        return self.desk.audit


def _address_fp(wb: Workbench, request: Request) -> str:
    return wb.sessions.fingerprint(request.client.host if request.client else "unknown")


async def _known(wb: Workbench, username: str) -> str | None:
    # The audit trail names an account only when it exists: typed text (a password in the
    # username box) never reaches it.
    return await run_in_threadpool(wb.staff.known, username) if username else None


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%-d %b %Y, %H:%M:%S UTC")


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = max(0, ms // 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _words(symbol: str | None) -> str:
    return "" if not symbol else symbol.replace("_", " ").capitalize()


def _status_class(status: str | None) -> str:
    return {"triaged": "govuk-tag--green", UNREADABLE: "govuk-tag--red", UNROUTED: "govuk-tag--red"}.get(
        status or "", "govuk-tag--blue"
    )


def _kind_label(item: Item) -> str:
    if item.kind == "referral":
        return "Public referral" if item.source == "public" else "Referral"
    return _KIND_LABELS.get(item.kind, _words(item.kind))


def _decision_label(kind: str | None) -> str:
    try:
        return DecisionKind(kind or "").label
    except ValueError:
        return ""


@cache
def _environment() -> Environment:
    env = govuk.environment([TEMPLATES])
    env.filters.update(
        when=_when,
        duration=_duration,
        words=_words,
        urgency_class=_URGENCY_TAGS.get,
        decision_label=_decision_label,
        status_class=_status_class,
        kind_label=_kind_label,
    )
    return env


def _workbench(request: Request) -> Workbench:
    found: Workbench = request.app.state.workbench
    return found


def _secure(response: Response, nonce: str | None = None) -> Response:
    response.headers.update(govuk.secure_headers(nonce))
    return response


def _render(
    wb: Workbench, template: str, *, status: int = 200, signed_in: tuple[Session, StaffMember] | None = None, **ctx: Any
) -> HTMLResponse:
    nonce = govuk.csp_nonce()
    session, staff = signed_in if signed_in else (None, None)
    html = (
        _environment()
        .get_template(template)
        .render(
            csp_nonce=nonce,
            service_url=f"{PREFIX}/inbox",
            scripts=[f"{PREFIX}/static/workbench.js"],
            agency_name=wb.agency_name,
            staff=staff,
            csrf_token=ctx.pop("csrf_token", None) or (session.csrf if session else ""),
            sender_name=lambda agency: "Public referral form" if agency == "public" else wb.desk.agency_name(agency),
            is_triage=wb.desk.is_triage,
            **ctx,
        )
    )
    response = HTMLResponse(html, status_code=status)
    _secure(response, nonce)
    return response


def _redirect(url: str) -> Response:
    return _secure(RedirectResponse(url, status_code=303))


def _signed_in_now(wb: Workbench, cookie: str | None) -> tuple[Session, StaffMember] | None:
    session = wb.sessions.resolve(cookie)
    if session is None:
        return None
    staff = wb.staff.get(session.username)
    return None if staff is None else (session, staff)


async def _signed_in(request: Request, wb: Workbench) -> tuple[Session, StaffMember] | None:
    # Store calls: in a worker thread, off the event loop.
    return await run_in_threadpool(_signed_in_now, wb, request.cookies.get(SESSION_COOKIE))


def _problem(wb: Workbench, status: int, heading: str, message: str, signed_in: Any = None) -> HTMLResponse:
    return _render(
        wb,
        "workbench/problem.html",
        status=status,
        signed_in=signed_in,
        page_title=heading,
        heading=heading,
        message=message,
    )


router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("")
@router.get("/")
async def home() -> Response:
    """The inbox."""
    return _redirect(f"{PREFIX}/inbox")


@router.get("/static/workbench.js")
async def script() -> Response:
    """GOV.UK Frontend's initialisation (a module importing ``/assets/govuk-frontend.min.js``)."""
    return FileResponse(SCRIPT, media_type="text/javascript")


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    """The sign-in form."""
    wb = _workbench(request)
    if await _signed_in(request, wb) is not None:
        return _redirect(f"{PREFIX}/inbox")
    return _sign_in_form(wb)


def _sign_in_form(wb: Workbench, *, status: int = 200, error: str | None = None, username: str = "") -> Response:
    nonce, token = wb.sessions.presession_token()
    response = _render(
        wb,
        "workbench/sign_in.html",
        status=status,
        page_title="Sign in",
        csrf_token=token,
        error=error,
        error_count=1 if error else 0,
        username=username,
    )
    response.set_cookie(
        SIGNIN_COOKIE, nonce, max_age=1800, path=PREFIX, httponly=True, samesite="strict", secure=wb.secure_cookies
    )
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the username and password; start a session."""
    wb = _workbench(request)
    form = await request.form()
    address = request.client.host if request.client else "unknown"
    fp = wb.sessions.fingerprint(address)
    if not wb.sessions.presession_ok(request.cookies.get(SIGNIN_COOKIE), _text(form.get("csrf_token"))):
        log.warning("workbench.csrf_refused")
        await wb.audit.record(SIGN_IN, Outcome.DENY, reason_code=CSRF_REFUSED, address_fp=fp)
        return _problem(wb, 403, "Your sign-in form expired", "Go back, reload the sign-in page and try again.")
    username = (_text(form.get("username")) or "").strip().lower()[:64]
    password = _text(form.get("password")) or ""
    keys = (f"user:{username}", f"address:{address}")
    if not wb.limiter.allowed(*keys):
        log.warning("workbench.sign_in_limited")
        actor = await _known(wb, username)
        await wb.audit.record(SIGN_IN, Outcome.DENY, actor=actor, reason_code=SIGN_IN_LIMITED, address_fp=fp)
        return _sign_in_form(
            wb, status=429, error="Too many failed attempts. Wait 15 minutes, then try again.", username=username
        )
    if not username or not password:
        actor = await _known(wb, username)
        await wb.audit.record(SIGN_IN, Outcome.DENY, actor=actor, reason_code=SIGN_IN_INCOMPLETE, address_fp=fp)
        return _sign_in_form(wb, status=400, error="Enter your username and password", username=username)
    # scrypt and the store: in a worker thread, so sign-ins never stall the connector's loop.
    checked = await run_in_threadpool(wb.staff.check, username, password)
    staff = checked.member
    if staff is None:
        wb.limiter.record(*keys)
        log.info("workbench.sign_in_failed", code=checked.reason_code)
        await wb.audit.record(
            SIGN_IN, Outcome.DENY, actor=checked.actor, reason_code=checked.reason_code, address_fp=fp
        )
        return _sign_in_form(wb, status=401, error="Enter a correct username and password", username=username)
    wb.limiter.reset(keys[0])
    cookie, _session = await run_in_threadpool(wb.sessions.start, staff.username)
    await wb.audit.record(SIGN_IN, Outcome.PERMIT, actor=staff.username, address_fp=fp)
    log.info("workbench.signed_in", role=staff.role.value)
    response = _redirect(f"{PREFIX}/inbox")
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(wb.sessions.absolute_s),
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=wb.secure_cookies,
    )
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session."""
    wb = _workbench(request)
    found = await _signed_in(request, wb)
    if found is not None:
        fp = _address_fp(wb, request)
        form = await request.form()
        if not same_token(_text(form.get("csrf_token")), found[0].csrf):
            log.warning("workbench.csrf_refused")
            await wb.audit.record(
                CSRF_REFUSED, Outcome.DENY, actor=found[1].username, reason_code=SIGN_OUT, address_fp=fp
            )
            return _problem(wb, 403, "Your form expired", "Reload the page and try again.", found)
        await run_in_threadpool(wb.sessions.end, found[0])
        await wb.audit.record(SIGN_OUT, Outcome.OK, actor=found[1].username, address_fp=fp)
    response = _redirect(f"{PREFIX}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/inbox")
async def inbox(request: Request) -> Response:
    """Referrals and alerts, newest first."""
    wb = _workbench(request)
    found = await _signed_in(request, wb)
    if found is None:
        return _redirect(f"{PREFIX}/sign-in")
    items = await run_in_threadpool(wb.desk.store.items)
    return _render(wb, "workbench/inbox.html", signed_in=found, page_title="Inbox", nav="inbox", items=items)


@router.get("/items/{item_id}")
async def item_page(request: Request, item_id: str) -> Response:
    """One referral or alert, decrypted; the triage form when it can still be decided."""
    wb = _workbench(request)
    fp = _address_fp(wb, request)
    found = await _signed_in(request, wb)
    if found is None:
        await wb.audit.record(ITEM_VIEWED, Outcome.DENY, item_id=item_id, reason_code=NOT_SIGNED_IN, address_fp=fp)
        return _redirect(f"{PREFIX}/sign-in")
    try:
        # Audited in the desk (``workbench.item_viewed``), as the REST API's openings are.
        item = await wb.desk.opened(item_id[:64], by=found[1].username, address_fp=fp)
    except NotFound:
        return _problem(wb, 404, "Not found", "There is no such referral or alert in your inbox.", found)
    done = request.query_params.get("done") == "1"
    return _item_page(wb, found, item, done=done)


@router.post("/items/{item_id}/decision")
async def decide(request: Request, item_id: str) -> Response:  # noqa: PLR0911 - one page per outcome
    """Record a triage decision; its onward message goes out under the agreements."""
    wb = _workbench(request)
    fp = _address_fp(wb, request)
    found = await _signed_in(request, wb)
    if found is None:
        await wb.audit.record(DECIDE, Outcome.DENY, item_id=item_id, reason_code=NOT_SIGNED_IN, address_fp=fp)
        return _redirect(f"{PREFIX}/sign-in")
    session, staff = found
    form = await request.form()
    if not same_token(_text(form.get("csrf_token")), session.csrf):
        log.warning("workbench.csrf_refused")
        await wb.audit.record(
            CSRF_REFUSED, Outcome.DENY, actor=staff.username, item_id=item_id, reason_code=DECIDE, address_fp=fp
        )
        return _problem(wb, 403, "Your form expired", "Reload the page and try again.", found)
    if not staff.role.can_decide or not wb.desk.is_triage:
        log.warning("workbench.decision_forbidden", role=staff.role.value)
        why = ROLE_CANNOT_DECIDE if not staff.role.can_decide else NOT_TRIAGE_DESK
        await wb.audit.record(
            DECIDE, Outcome.DENY, actor=staff.username, item_id=item_id, reason_code=why, address_fp=fp
        )
        return _problem(wb, 403, "You cannot record triage decisions", "Ask a triage officer to decide.", found)
    await wb.audit.record(DECIDE, Outcome.PERMIT, actor=staff.username, item_id=item_id, address_fp=fp)
    try:
        item = await run_in_threadpool(wb.desk.store.item, item_id[:64])
    except NotFound as exc:
        await wb.audit.record(
            DECIDE, Outcome.REFUSED, actor=staff.username, item_id=item_id, reason_code=exc.code, address_fp=fp
        )
        return _problem(wb, 404, "Not found", "There is no such referral or alert in your inbox.", found)
    chosen = _text(form.get("decision"))
    target = _text(form.get("authority")) if chosen == DecisionKind.INTELLIGENCE else _text(form.get("service"))
    entered = {"decision": chosen, "service": target, "reason": _text(form.get("reason"))}
    try:
        # Audited in the desk (``triage.decide`` ok, or refused with its code), as the REST API's are.
        await wb.desk.decide_entered(item.item_id, chosen, target, entered["reason"], by=staff.username, address_fp=fp)
    except TriageInvalid as exc:
        anchor = {"service": "authority" if chosen == DecisionKind.INTELLIGENCE else "service"}.get(
            exc.field, exc.field
        )
        return _item_page(wb, found, item, status=400, errors=[(exc.field, anchor, exc.message)], form=entered)
    except OneDoorError as exc:
        return _item_page(
            wb, found, item, status=exc.http_status, errors=[("decision", "decision", exc.message)], form=entered
        )
    return _redirect(f"{PREFIX}/items/{item.item_id}?done=1")


@router.get("/timeline/{subject_token}")
async def timeline(request: Request, subject_token: str) -> Response:
    """Every alert about one young person (one subject token), in time order."""
    wb = _workbench(request)
    fp = _address_fp(wb, request)
    token = subject_token[:100]
    found = await _signed_in(request, wb)
    if found is None:
        await wb.audit.record(
            TIMELINE_VIEWED, Outcome.DENY, subject_token=token, reason_code=NOT_SIGNED_IN, address_fp=fp
        )
        return _redirect(f"{PREFIX}/sign-in")
    await wb.audit.record(TIMELINE_VIEWED, Outcome.PERMIT, actor=found[1].username, subject_token=token, address_fp=fp)
    alerts = await run_in_threadpool(wb.desk.store.timeline, token)
    return _render(
        wb, "workbench/timeline.html", signed_in=found, page_title="Alert timeline", subject_token=token, alerts=alerts
    )


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    """The newest lines of the audit trail (``?item=`` for one item's): auditors only."""
    wb = _workbench(request)
    fp = _address_fp(wb, request)
    found = await _signed_in(request, wb)
    if found is None:
        await wb.audit.record(AUDIT_VIEWED, Outcome.DENY, reason_code=NOT_SIGNED_IN, address_fp=fp)
        return _redirect(f"{PREFIX}/sign-in")
    staff = found[1]
    if not staff.role.can_audit:
        log.warning("workbench.audit_forbidden", role=staff.role.value)
        await wb.audit.record(
            AUDIT_VIEWED, Outcome.DENY, actor=staff.username, reason_code=ROLE_CANNOT_AUDIT, address_fp=fp
        )
        return _problem(wb, 403, "You cannot read the audit trail", "Ask an auditor.", found)
    item_id = (request.query_params.get("item") or "").strip()[:64] or None
    await wb.audit.record(AUDIT_VIEWED, Outcome.PERMIT, actor=staff.username, item_id=item_id, address_fp=fp)
    lines = await run_in_threadpool(wb.audit.lines, limit=AUDIT_PAGE_ROWS, item_id=item_id)
    return _render(
        wb,
        "workbench/audit.html",
        signed_in=found,
        page_title="Audit trail",
        nav="audit",
        lines=lines,
        item_filter=item_id,
        page_rows=AUDIT_PAGE_ROWS,
    )


def _item_page(
    wb: Workbench,
    signed_in: tuple[Session, StaffMember],
    item: Item,
    *,
    status: int = 200,
    done: bool = False,
    errors: list[tuple[str, str, str]] | None = None,
    form: Mapping[str, str | None] | None = None,
) -> Response:
    staff = signed_in[1]
    options = service_options(wb.desk.agencies, wb.desk.me)
    entered = dict(form or {})
    chosen_target = entered.get("service")
    return _render(
        wb,
        "workbench/item.html",
        status=status,
        signed_in=signed_in,
        page_title=item.title,
        error_count=len(errors or []),
        item=item,
        done=done,
        rows=_rows(wb, item),
        decision_rows=_decision_rows(wb, item),
        accept_command=(
            f"onedoor transfer accept --connector CONFIG {item.body.get('transfer_id')}"
            if item.kind == TRANSFER_OFFER_KIND
            else None
        ),
        can_decide=item.kind == "referral" and wb.desk.is_triage and staff.role.can_decide,
        services=[{"value": o.id, "text": o.name, "selected": o.id == chosen_target} for o in options],
        authorities=[
            {"value": o.id, "text": o.name, "selected": o.id == chosen_target}
            for o in options
            if o.kind == CHILDREN_SERVICES
        ],
        errors=[{"text": message, "href": f"#{anchor}"} for _field, anchor, message in errors or []],
        field_errors={f: m for f, _a, m in errors or []},
        form=entered,
    )


def _row(key: str, value: Any) -> dict[str, Any]:
    return {"key": {"text": key}, "value": {"text": "" if value is None else str(value)}}


def _rows(wb: Workbench, item: Item) -> list[dict[str, Any]]:
    body = item.body
    rows = [_row("Received", _when(item.received_at_ms))]
    if item.kind == UNREADABLE:
        reason = str(body.get("reason") or "")
        return [
            *rows,
            _row("Reference", item.reference or "None (the record could not be read)"),
            _row("Why it could not be opened", _UNREADABLE_REASONS.get(reason, "It could not be opened")),
            _row("Reason code", reason),
            _row("What to do", _UNREADABLE_ADVICE),
        ]
    transfer = _TRANSFER_ROWS.get(item.kind)
    if transfer is not None:
        return [*rows, *transfer(wb, item)]
    if item.kind == UNROUTED:
        return [
            *rows,
            _row("Contract", body.get("contract")),
            _row("Contract version", body.get("contract_version")),
            _row("From", wb.desk.agency_name(item.sender)),
            _row("Message id", item.message_id),
            _row("What to do", _UNROUTED_ADVICE),
        ]
    if item.kind == "alert":
        location = body.get("location") or {}
        rows += [
            _row("What happened", _words(body.get("kind"))),
            _row("When", _when(_ms(body.get("occurred_at")))),
            _row("Where", ", ".join(str(v) for v in location.values() if v) if location else "Not given"),
            _row("Risk", _words(body.get("risk_level")) or "Not given"),
            _row("Details", body.get("details") or "None"),
            _row("From", wb.desk.agency_name(item.sender)),
        ]
        return rows
    child = body.get("child") or {}
    referrer = body.get("referrer") or {}
    age = child.get("date_of_birth") or (f"About {child['estimated_age']}" if child.get("estimated_age") else None)
    rows += [
        _row(
            "Child's name", " ".join(v for v in (child.get("given_name"), child.get("family_name")) if v) or "Not given"
        ),
        _row("Known as", ", ".join(child.get("known_as") or []) or "None given"),
        _row("Date of birth or age", age or "Not given"),
        _row("School", child.get("school") or "Not given"),
        _row("Concerns", ", ".join(_words(c) for c in body.get("concern_categories") or [])),
        _row("What the referrer says", body.get("concern_summary")),
        _row("Urgency", _words(body.get("urgency"))),
        _row("Referrer", _words(referrer.get("kind"))),
        _row("Referrer's name", referrer.get("name") or "Not given"),
        _row("Relationship to the child", referrer.get("relationship_to_child") or "Not given"),
        _row("From", "Public referral form" if item.source == "public" else wb.desk.agency_name(item.sender)),
    ]
    if body.get("actions_taken"):
        rows.append(_row("Also noted", body["actions_taken"]))
    return rows


def _names(wb: Workbench, agencies: Any) -> str:
    return ", ".join(wb.desk.agency_name(str(a)) for a in agencies or []) or "None"


def _offer_rows(wb: Workbench, item: Item) -> list[dict[str, Any]]:
    body = item.body
    return [
        _row("Transfer id", body.get("transfer_id")),
        _row("Offered", _when(_ms(body.get("offered_at")))),
        _row("From", wb.desk.agency_name(item.sender)),
        _row("Area the young person now lives in", body.get("area")),
        _row("Age", _words(body.get("age_band")) or "Unknown"),
        _row("Urgency", _words(body.get("urgency"))),
        _row("Needs", ", ".join(_words(n) for n in body.get("needs") or []) or "None given"),
        _row("Current lead professional", body.get("lead_professional_role")),
        _row("Answer by", _when(_ms(body.get("respond_by"))) or "No time set"),
    ]


def _contact(found: Any) -> str:
    if not found:
        return "Not given"
    return ", ".join(str(found[k]) for k in ("name", "role", "phone", "email") if found.get(k))


def _handover_rows(wb: Workbench, item: Item) -> list[dict[str, Any]]:
    body = item.body
    child = body.get("child") or {}
    plan = body.get("plan") or {}
    risks = [
        f"{_words(r.get('category'))}: {_words(r.get('level'))}"
        + (f" ({r['description']})" if r.get("description") else "")
        for r in body.get("risks") or []
    ]
    alerts = [
        f"{_words(a.get('kind'))}, {_when(_ms(a.get('occurred_at')))}, from {wb.desk.agency_name(str(a.get('sender')))}"
        + (f": {a['summary']}" if a.get("summary") else "")
        for a in body.get("alert_history") or []
    ]
    network = [f"{wb.desk.agency_name(str(m.get('agency_id')))} ({m.get('role')})" for m in body.get("network") or []]
    return [
        _row("Transfer id", body.get("transfer_id")),
        _row("Handed over", _when(_ms(body.get("handed_over_at")))),
        _row("From", wb.desk.agency_name(item.sender)),
        _row(
            "Child's name", " ".join(v for v in (child.get("given_name"), child.get("family_name")) if v) or "Not given"
        ),
        _row("Known as", ", ".join(child.get("known_as") or []) or "None given"),
        _row("Date of birth", child.get("date_of_birth") or "Not given"),
        _row("Current address", child.get("current_address") or "Not given"),
        _row("Plan", _words(plan.get("kind"))),
        _row("Plan summary", plan.get("summary")),
        _row("Next review", plan.get("next_review") or "Not set"),
        _row("Risks", "; ".join(risks) or "None recorded"),
        _row("Alert history", "; ".join(alerts) or "None"),
        _row("Network before the transfer", "; ".join(network) or "None"),
        _row("Previous lead professional", _contact(body.get("previous_lead_contact"))),
    ]


def _completed_rows(wb: Workbench, item: Item) -> list[dict[str, Any]]:
    body = item.body
    audience = str(body.get("audience") or "")
    return [
        _row("Transfer id", body.get("transfer_id")),
        _row("Completed", _when(_ms(body.get("completed_at")))),
        _row("New lead", wb.desk.agency_name(str(body.get("new_lead")))),
        _row("Previous lead", wb.desk.agency_name(str(body.get("previous_lead") or item.sender))),
        _row("Why you are told", _AUDIENCES.get(audience, _words(audience))),
        _row("Network before the transfer", _names(wb, body.get("network"))),
        _row("Other candidates", _names(wb, body.get("other_candidates"))),
    ]


_TRANSFER_ROWS: Final = {
    TRANSFER_OFFER_KIND: _offer_rows,
    HANDOVER_KIND: _handover_rows,
    TRANSFER_DONE_KIND: _completed_rows,
}


def _decision_rows(wb: Workbench, item: Item) -> list[dict[str, Any]]:
    if item.decided_at_ms is None:
        return []
    return [
        _row("Decision", _decision_label(item.decision_kind)),
        _row("Sent to", wb.desk.agency_name(item.decision_target) if item.decision_target else "Nobody"),
        _row("Reason", item.decision_reason or "None given"),
        _row("Decided by", item.decided_by),
        _row("Decided", _when(item.decided_at_ms)),
        _row("Time to triage", _duration(item.time_to_triage_ms)),
    ]


def _ms(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def mount(app: FastAPI, workbench: Workbench) -> None:
    """Serve ``workbench`` at ``/workbench`` (and GOV.UK's assets at ``/assets`` when built)."""
    app.state.workbench = workbench
    app.include_router(router)
    if not any(getattr(r, "path", None) == govuk.ASSETS_PATH for r in app.routes):
        try:
            govuk.mount_assets(app)
        except OneDoorError as exc:
            log.warning("workbench.assets_missing", code=exc.code)
