"""``/console/agencies``: the registry as a page; the hub operator registers, approves, suspends and revokes.

Everyone signed in sees the list (ids, kinds, status, key ids and their expiry); an agency admin
sees its own agency's page and may revoke its keys (its connector announces new ones); the hub
operator runs the registry. Actions call ``hub.agencies.service`` and ``registration`` as the
API does, in one transaction with an ``agency.*`` audit row; refusals are shown on the page with
their stable code, and nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path as FilePath
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from hub.agencies import registration, service
from hub.agencies.enums import AgencyKind, KeyStatus, KeyUse
from hub.agencies.models import Agency
from hub.agencies.request import SIGNING_KEY_UNEXPECTED, request_key_ids
from hub.audit.service import AuditEntry, append, append_now
from hub.auth.policy import list_scope
from hub.auth.roles import Role
from hub.broker.service import withdraw
from hub.console import shell
from hub.console.admin import forms
from hub.console.admin.forms import FieldError, FormProblems
from hub.console.admin.guard import scoped_user
from hub.console.shell import ConsoleUser
from onedoor.ids import AgencyId, KeyId

TEMPLATES: Final = FilePath(__file__).parent / "templates"
shell.add_templates(TEMPLATES)
STATIC: Final = FilePath(__file__).parent / "static"
STATIC_PATH: Final = "/console/static/admin"


def mount_static(app: FastAPI) -> None:
    """Serve the admin pages' scripts at ``/console/static/admin`` (one line in ``hub.app.create_app``)."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="console-admin-static")


router = APIRouter(prefix="/console/agencies", include_in_schema=False)

AgencyIdPath = Annotated[str, Path(pattern=f"^{AgencyId.pattern.pattern}$", max_length=64)]
KeyIdPath = Annotated[str, Path(pattern=f"^{KeyId.pattern.pattern}$", max_length=35)]

Anyone = Annotated[ConsoleUser, Depends(shell.console_user(*Role))]
Operator = Annotated[ConsoleUser, Depends(shell.console_user(Role.HUB_OPERATOR))]
OwnOrOperator = Annotated[ConsoleUser, Depends(scoped_user(Role.HUB_OPERATOR, Role.AGENCY_ADMIN))]

DONE: Final = {
    "registered": "The agency was registered with both keys current.",
    "suspended": (
        "The agency was suspended: the hub no longer routes to or from it, and its broker login and ACLs "
        "are withdrawn (the audit's broker.withdrawn row says when)."
    ),
    "reinstated": (
        "The agency was reinstated: the hub routes to and from it again. Its broker login is not restored: "
        "its connector must enrol again (onedoor connector enrol)."
    ),
    "revoked": "The key was revoked: the hub and every connector refuse it from now on.",
}
KIND_WORDS: Final = {
    AgencyKind.POLICE: "Police",
    AgencyKind.CHILDREN_SERVICES: "Children's services",
    AgencyKind.YOUTH_OFFENDING: "Youth offending",
    AgencyKind.EDUCATION: "Education",
    AgencyKind.HEALTH: "Health",
    AgencyKind.CHARITY: "Charity",
    AgencyKind.TRIAGE: "Triage desk",
}


def _entry(kind: str, outcome: str, user: ConsoleUser, agency: str, detail: str) -> AuditEntry:
    return AuditEntry(
        kind=kind, outcome=outcome, actor=user.subject[:64], source=f"agency:{agency}", detail=f"{detail}; via=console"
    )


def _agency_view(agency: Agency) -> dict[str, Any]:
    return {
        "id": agency.id,
        "name": agency.display_name,
        "kind": KIND_WORDS.get(agency.kind, agency.kind.value),
        "status": agency.status.value,
        "created_at": agency.created_at,
        "keys": [
            {
                "key_id": k.key_id,
                "use": k.use.value,
                "status": k.status.value,
                "created_at": k.created_at,
                "not_after": k.not_after,
                "current_signing": k.use is KeyUse.SIGNING and k.status is KeyStatus.CURRENT,
            }
            for k in sorted(agency.keys, key=lambda k: (k.created_at, k.use.value, k.key_id))
        ],
    }


@router.get("", response_class=HTMLResponse)
async def list_page(request: Request, user: Anyone) -> HTMLResponse:
    """Every agency (an agency admin: its own), with its keys and their expiry."""
    own_only = list_scope(user.roles, user.agency)
    rows = await shell.in_session(
        request, lambda s: [_agency_view(a) for a in service.list_all(s) if own_only is None or a.id == own_only]
    )
    return shell.render(
        request,
        user,
        "console/agencies/list.html",
        page_title="Agencies",
        rows=rows,
        operator=Role.HUB_OPERATOR in user.roles,
        links=user.has(Role.HUB_OPERATOR) or own_only is not None,
    )


# -- register directly ------------------------------------------------------------------------------


def _register_form(
    request: Request, user: ConsoleUser, values: Mapping[str, str], errors: Sequence[FieldError] = (), status: int = 200
) -> HTMLResponse:
    kinds = [{"value": k.value, "text": KIND_WORDS[k], "checked": values.get("kind") == k.value} for k in AgencyKind]
    return shell.render(
        request,
        user,
        "console/agencies/register.html",
        status=status,
        page_title="Register an agency",
        values=values,
        kinds=kinds,
        **forms.error_context(errors),
    )


@router.get("/register", response_class=HTMLResponse)
async def register_form(request: Request, user: Operator) -> HTMLResponse:
    """The form to register an agency with its two public keys."""
    return _register_form(request, user, {})


@router.post("/register", response_class=HTMLResponse)
async def register(request: Request, user: Operator) -> Response:
    """Register the agency (``service.register``, as ``POST /agencies``); both keys become current."""
    form = await shell.form_with_csrf(request, user)
    try:
        new = forms.agency_from_form(form)
    except FormProblems as problems:
        return _register_form(request, user, form, problems.errors, 422)

    def work(session: Session) -> None:
        agency = service.register(session, new)
        keys = {k.use: k.key_id for k in agency.keys}
        detail = (
            f"agency_id={agency.id}; kind={agency.kind.value}; "
            f"signing_key_id={keys[KeyUse.SIGNING]}; encryption_key_id={keys[KeyUse.ENCRYPTION]}"
        )
        append(session, [_entry(registration.REGISTER_KIND, "registered", user, agency.id, detail)])

    failed = await shell.in_transaction(request, work)
    if failed is not None:
        error = FieldError(forms.agency_field(failed.code), failed.code, failed.message)
        return _register_form(request, user, form, [error], failed.http_status)
    return shell.redirect(f"/console/agencies/{new.id}?done=registered")


# -- approve a registration request -------------------------------------------------------------------


def _approve_form(
    request: Request, user: ConsoleUser, values: Mapping[str, str], errors: Sequence[FieldError] = (), status: int = 200
) -> HTMLResponse:
    return shell.render(
        request,
        user,
        "console/agencies/approve.html",
        status=status,
        page_title="Approve a registration request",
        values=values,
        **forms.error_context(errors),
    )


@router.get("/approve", response_class=HTMLResponse)
async def approve_form(request: Request, user: Operator) -> HTMLResponse:
    """The form to paste an agency's registration request and type the signing key id it read out."""
    return _approve_form(request, user, {})


@router.post("/approve", response_class=HTMLResponse)
async def approve(request: Request, user: Operator) -> Response:
    """Check the typed key id as ``onedoor agency approve --expect-signing-key`` does, then ``registration.approve``."""
    form = await shell.form_with_csrf(request, user)
    text = form.get("request-json", "").strip()
    expected = form.get("signing-key-id", "").strip()
    try:
        document = json.loads(text) if text else None
    except ValueError:
        document = None
    problems = []
    if not isinstance(document, dict):
        problems.append(
            FieldError(
                "request-json",
                "registration.malformed",
                "Paste the whole registration-request.json that `onedoor connector init` wrote: it is a JSON object",
            )
        )
    if not expected:
        problems.append(
            FieldError(
                "signing-key-id",
                "agency_form.signing_key_id_missing",
                "Enter the signing key id the agency read to you by phone, like k1_0123…",
            )
        )
    if problems:
        return _approve_form(request, user, form, problems, 422)
    carried = request_key_ids(document)
    if carried is not None and carried[0] != expected:
        message = (
            f"The request's signing key is {carried[0]}, not {expected}: it is not the request the agency made "
            "(or the key id was misheard). Nothing was registered; confirm the key id with the agency by phone"
        )
        refusal = registration.refusal_entry(document, actor=user.subject[:64], code=SIGNING_KEY_UNEXPECTED)
        await run_in_threadpool(append_now, shell.db_factory(request), [refusal])
        return _approve_form(request, user, form, [FieldError("signing-key-id", SIGNING_KEY_UNEXPECTED, message)], 422)
    agency_id = str(document.get("agency_id", "")) if isinstance(document, dict) else ""
    failed = await shell.in_transaction(request, lambda s: registration.approve(s, document, actor=user.subject[:64]))
    if failed is not None:
        refusal = registration.refusal_entry(document, actor=user.subject[:64], code=failed.code)
        await run_in_threadpool(append_now, shell.db_factory(request), [refusal])
        return _approve_form(
            request, user, form, [FieldError("request-json", failed.code, failed.message)], failed.http_status
        )
    return shell.redirect(f"/console/agencies/{agency_id}?done=registered")


# -- one agency ----------------------------------------------------------------------------------------


def _detail(
    request: Request,
    user: ConsoleUser,
    view: dict[str, Any],
    *,
    done: str | None = None,
    errors: Sequence[FieldError] = (),
    status: int = 200,
) -> HTMLResponse:
    return shell.render(
        request,
        user,
        "console/agencies/detail.html",
        status=status,
        page_title=view["name"],
        agency=view,
        operator=Role.HUB_OPERATOR in user.roles,
        own=user.agency == view["id"],
        done=DONE.get(done or ""),
        **forms.error_context(errors),
    )


@router.get("/{agency_id}", response_class=HTMLResponse)
async def agency_page(
    request: Request, user: OwnOrOperator, agency_id: AgencyIdPath, done: str | None = None
) -> HTMLResponse:
    """One agency: status, every key it has had; the actions the user may take."""
    view = await shell.in_session(request, lambda s: _agency_view(service.get(s, AgencyId(agency_id))))
    return _detail(request, user, view, done=done)


async def _status(request: Request, user: ConsoleUser, agency_id: str, suspend: bool) -> Response:
    await shell.form_with_csrf(request, user)
    agency = AgencyId(agency_id)

    def work(session: Session) -> None:
        changed = service.suspend(session, agency) if suspend else service.reactivate(session, agency)
        kind = "agency.suspend" if suspend else "agency.reactivate"
        append(session, [_entry(kind, changed.status.value, user, agency, f"agency_id={agency}")])

    failed = await shell.in_transaction(request, work)
    if failed is not None:
        raise failed
    answer = shell.redirect(f"/console/agencies/{agency_id}?done={'suspended' if suspend else 'reinstated'}")
    if suspend:  # committed: take its broker identity away after the answer (hub.broker.service.withdraw)
        state, source = request.app.state, f"console suspend agency_id={agency}"
        answer.background = BackgroundTask(withdraw, state.session_factory, state.settings, agency, source=source)
    return answer


@router.post("/{agency_id}/suspend", response_class=HTMLResponse)
async def suspend(request: Request, user: Operator, agency_id: AgencyIdPath) -> Response:
    """Stop routing to and from the agency (``service.suspend``)."""
    return await _status(request, user, agency_id, suspend=True)


@router.post("/{agency_id}/reinstate", response_class=HTMLResponse)
async def reinstate(request: Request, user: Operator, agency_id: AgencyIdPath) -> Response:
    """Route to and from the agency again (``service.reactivate``)."""
    return await _status(request, user, agency_id, suspend=False)


@router.post("/{agency_id}/keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(request: Request, user: OwnOrOperator, agency_id: AgencyIdPath, key_id: KeyIdPath) -> Response:
    """Never trust the key again (``registration.revoke_key_as``, as ``POST /agencies/{id}/keys/{key}/revoke``)."""
    await shell.form_with_csrf(request, user)
    agency, key = AgencyId(agency_id), KeyId(key_id)
    operator = Role.HUB_OPERATOR in user.roles

    def work(session: Session) -> None:
        revoked = registration.revoke_key_as(session, agency, key, operator=operator)
        detail = f"use={revoked.use.value}; key_id={key}"
        append(session, [_entry(registration.KEY_REVOKED_KIND, "revoked", user, agency, detail)])

    failed = await shell.in_transaction(request, work)
    if failed is not None:
        view = await shell.in_session(request, lambda s: _agency_view(service.get(s, agency)))
        error = FieldError(f"revoke-{key_id}", failed.code, failed.message)
        return _detail(request, user, view, errors=[error], status=failed.http_status)
    return shell.redirect(f"/console/agencies/{agency_id}?done=revoked")
